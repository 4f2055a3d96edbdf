"""relsign's stand-in for webdriver_manager (docassemble's tests/features/environment.py
imports it to download a chromedriver at run time). The release gate runs offline: the driver
comes from the locked chromium-driver .deb, and this module hands its path to the suite."""
