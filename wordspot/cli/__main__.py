from wordspot.cli import app

app(prog_name="wordspot")
