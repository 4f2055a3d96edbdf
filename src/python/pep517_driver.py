# relsign's PEP 517 front end. It runs inside the sandbox with the rootfs's python3.
# It imports the project's build backend from the build dependencies that relsign
# installed from the store, checks that the backend asks for nothing that is not installed,
# calls one hook, and prints the produced file name as JSON on the last stdout line.
import json
import os
import sys

os.umask(0o022)


def main():
    hook, src, out, deps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    sys.path[:0] = [deps]
    import tomllib

    os.chdir(src)
    build_system = {}
    if os.path.exists("pyproject.toml"):
        with open("pyproject.toml", "rb") as f:
            build_system = tomllib.load(f).get("build-system", {})
    backend_name = build_system.get("build-backend", "setuptools.build_meta:__legacy__")
    for p in reversed(build_system.get("backend-path", [])):
        sys.path.insert(0, os.path.join(src, p))
    mod_name, _, obj_path = backend_name.partition(":")
    import importlib

    backend = importlib.import_module(mod_name)
    for part in filter(None, obj_path.split(".")):
        backend = getattr(backend, part)

    # Every requirement the backend asks for must already be installed from the lock.
    get_requires = getattr(backend, "get_requires_for_" + hook, None)
    extra = list(get_requires({})) if get_requires else []
    extra += list(build_system.get("requires", []))
    from importlib import metadata as md

    missing = []
    for req in extra:
        name = req.split(";")[0]
        for sep in "<>=!~[ (":
            name = name.split(sep)[0]
        name = name.strip()
        if not name:
            continue
        try:
            md.distribution(name)
        except md.PackageNotFoundError:
            missing.append(req)
    if missing:
        print(
            "build requirement(s) not in the lock: "
            + ", ".join(missing)
            + "; declare them in the project's [build-system] requires, or pin them in the"
            + " package's build-requirements (with build-requirements-reason), and run"
            + " `relsign lock`",
            file=sys.stderr,
        )
        sys.exit(3)

    os.makedirs(out, exist_ok=True)
    name = getattr(backend, hook)(out, {})
    print(json.dumps({"file": name}))


main()
