"""The declarative risk engine: facts about a change, rules over them, a scored result."""
