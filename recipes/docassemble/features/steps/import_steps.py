import subprocess
import sys

from behave import then, when

# Each step runs a fresh interpreter (the one behave runs under: the venv's or the image's),
# so one module's import side effects cannot hide another's failure.


def run(context, code):
    context.result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )


@when("I import {module}")
def step_import(context, module):
    run(context, f"import {module}")


@when("I ask for the installed version of {dist}")
def step_version(context, dist):
    run(context, f"import importlib.metadata as m; print(m.version({dist!r}))")


@when("I check the installed distributions' requirements")
def step_requirements(context):
    # Names only, requirements without environment markers (versions are the lock's job).
    run(
        context,
        "\n".join(
            [
                "import importlib.metadata as m, re, sys",
                "have = {re.sub(r'[-_.]+', '-', d.metadata['Name']).lower() for d in m.distributions()}",
                "missing = []",
                "for d in m.distributions():",
                "    for r in d.requires or []:",
                "        if ';' in r: continue",
                "        n = re.sub(r'[-_.]+', '-', re.match(r'[A-Za-z0-9._-]+', r).group(0)).lower()",
                "        if n not in have: missing.append(f\"{d.metadata['Name']} needs {r}\")",
                "print('\\n'.join(missing)); sys.exit(1 if missing else 0)",
            ]
        ),
    )


@then("the import succeeds")
def step_ok(context):
    r = context.result
    assert r.returncode == 0, f"exit {r.returncode}:\n{r.stdout}\n{r.stderr[-2000:]}"


@then("none is missing")
def step_none_missing(context):
    r = context.result
    assert r.returncode == 0, f"missing requirements:\n{r.stdout}\n{r.stderr[-2000:]}"


@then('it is "{text}"')
def step_is(context, text):
    r = context.result
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-2000:]}"
    assert r.stdout.strip() == text, f"expected {text!r}, got {r.stdout.strip()!r}"
