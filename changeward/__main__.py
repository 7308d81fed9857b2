from changeward.cli import app

app()
