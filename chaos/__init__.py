"""The fault suite: the distributed mode under load while its processes, broker, database and
network fail, then proof that nothing acknowledged was lost, doubled or reordered."""
