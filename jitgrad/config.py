"""Global switches. `eager` mirrors JITGRAD_EAGER=1: run jit_grad functions op by op."""
import os

eager = os.environ.get("JITGRAD_EAGER", "0").lower() not in ("", "0", "false", "no")
