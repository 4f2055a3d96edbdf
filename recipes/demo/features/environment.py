import shutil
import tempfile


def before_scenario(context, scenario):
    context.workdir = tempfile.mkdtemp(prefix="relsign-demo-")


def after_scenario(context, scenario):
    shutil.rmtree(context.workdir, ignore_errors=True)
