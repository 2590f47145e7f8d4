from assistant.cli import app

app(prog_name="gridworker")
