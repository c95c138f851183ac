"""`python -m appliance.weave`: vibeweaver with the layered config (what `studio vibeweaver` runs)."""

from appliance.config import load_config
from appliance.logs import setup_logging
from appliance.weave.main import run

config = load_config()
setup_logging("vibeweaver", config.log_level)
run(config)
