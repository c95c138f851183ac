from appliance.cli.main import app

app(prog_name="studio")
