"""ChromeDriverManager().install() as docassemble's environment.py calls it: returns the
locked driver's path (RELSIGN_CHROMEDRIVER, default /usr/bin/chromedriver), downloads
nothing, and fails when the driver is missing."""
import os


class ChromeDriverManager:
    def __init__(self, *args, **kwargs):
        self.path = os.environ.get("RELSIGN_CHROMEDRIVER", "/usr/bin/chromedriver")

    def install(self):
        if not os.access(self.path, os.X_OK):
            raise RuntimeError(
                f"relsign's webdriver_manager stand-in: no executable driver at {self.path} "
                "(the gate takes it from the locked chromium-driver package)"
            )
        return self.path
