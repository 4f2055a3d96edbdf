import os
import shlex
import subprocess

from behave import given, then, when


@given('a file "{name}" containing "{text}"')
def step_file(context, name, text):
    with open(os.path.join(context.workdir, name), "w", encoding="utf-8") as f:
        f.write(text)


@when('I run "{command}"')
def step_run(context, command):
    context.result = subprocess.run(
        shlex.split(command), cwd=context.workdir, capture_output=True, text=True, timeout=60
    )


@then("it succeeds")
def step_succeeds(context):
    r = context.result
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr}"


@then("it fails with exit code {code:d}")
def step_fails(context, code):
    r = context.result
    assert r.returncode == code, f"expected exit {code}, got {r.returncode}: {r.stdout}{r.stderr}"


@then('the output is "{text}"')
def step_output(context, text):
    out = context.result.stdout.strip()
    assert out == text, f"expected {text!r}, got {out!r}"


@then('the error mentions "{text}"')
def step_error(context, text):
    err = context.result.stderr
    assert text in err, f"{text!r} not in {err!r}"
