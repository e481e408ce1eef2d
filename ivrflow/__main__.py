from ivrflow.cli import run

run()
