//! `relsign run --services` on recipes/server-mini.toml (issue 12 item 5): PostgreSQL starts
//! under its own user after its first-start (snakeoil pair, cluster), a web page under the
//! recipe's user, in one sandbox whose network is loopback only; a SQL query over TCP on
//! 127.0.0.1 answers inside it, the host cannot reach either port, COMMAND's exit code comes
//! back, SIGTERM stops the services cleanly, and a broken service is named with its log lines.
//! Needs root (as building server-mini does).

mod common;

use common::*;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn build(recipe: &Path, out: &Path) {
    for t in ["bwrap", "nsenter", "setarch"] {
        require_tool(t);
    }
    run_ok(relsign(&["fetch", recipe.to_str().unwrap()]));
    run_ok(relsign(&[
        "build",
        recipe.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
}

fn host_can_connect(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &(std::net::Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// server-mini with PostgreSQL's metapackage (its doc files only; postgresql-17 stays) as an
/// `image.test-packages` entry: locked with the image, left out of it, added to the gate's copy.
fn with_test_package(recipe: &str) -> String {
    let moved = recipe.replacen("    \"postgresql\",\n", "", 1);
    moved.replacen(
        "scripts = true\n",
        "scripts = true\ntest-packages = [\"postgresql\"]\n",
        1,
    )
}

#[test]
fn services_start_hermetically_and_stop_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("release");
    let built_dir = tmp.path().join("built");
    std::fs::create_dir_all(&built_dir).unwrap();
    build(&recipe_copy(&built_dir, with_test_package), &out);
    let rel = out.to_str().unwrap();
    // The test package is not in the image.
    let o = relsign(&[
        "run",
        rel,
        "--",
        "test",
        "-e",
        "/usr/share/doc/postgresql/copyright",
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    // A query over TCP inside the sandbox; who runs PostgreSQL and owns its data; the
    // sandbox's interfaces; COMMAND's exit code comes back.
    let script = "set -e\n\
        psql -h 127.0.0.1 -U postgres -At -c \"select current_user, inet_server_addr(), current_setting('data_directory'), 6*7\"\n\
        echo \"data-owner $(stat -c '%u %U' /var/lib/postgresql/17/main)\"\n\
        echo \"postmaster-uid $(stat -c %u /proc/$(head -1 /var/lib/postgresql/17/main/postmaster.pid))\"\n\
        echo \"interfaces $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')\"\n\
        python3 -c \"import urllib.request as u; print('web', u.urlopen('http://localhost:8080/').status)\"\n\
        h=$(cat /proc/sys/kernel/hostname); echo \"hostname $h $(getent hosts \"$h\" | tr -s ' ')\"\n\
        exit 7";
    let o = relsign(&["run", rel, "--services", "--", "sh", "-c", script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(7), "COMMAND's code\n{stdout}\n{err}");
    for want in [
        "postgres|127.0.0.1|/var/lib/postgresql/17/main|42",
        "data-owner 100 postgres",
        "postmaster-uid 100",
        "interfaces lo \n",
        "web 200",
        "hostname relsign 127.0.1.1 relsign",
    ] {
        assert!(stdout.contains(want), "{want:?} in:\n{stdout}\n{err}");
    }
    for want in [
        "network lo only (loopback works)",
        "first-start `make-ssl-cert generate-default-snakeoil` as root",
        "first-start `pg_createcluster 17 main",
        "starting postgresql as postgres (uid 100)",
        "postgresql ready in",
        "in the sandbox, uid 100",
        "web ready in",
        "in the sandbox, uid 1000",
        "stopped web (SIGINT): exit status 0",
        "stopped postgresql (SIGINT): exit status 0",
    ] {
        assert!(err.contains(want), "{want:?} in:\n{err}");
    }

    // Without COMMAND: the services run until SIGTERM; meanwhile the host cannot reach them.
    for port in [5432, 8080] {
        assert!(
            !host_can_connect(port),
            "something on the host already listens on 127.0.0.1:{port}; this test needs it free"
        );
    }
    let mut child = relsign(&["run", rel, "--services"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let t = Instant::now();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("relsign exited before its services ran:\n{seen}"))
            .unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("services running") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(300), "{seen}");
    }
    for port in [5432, 8080] {
        assert!(
            !host_can_connect(port),
            "the host reached the sandbox's port {port}"
        );
    }
    run_ok({
        let mut c = std::process::Command::new("kill");
        c.args(["-TERM", &child.id().to_string()]);
        c
    });
    for l in lines {
        seen.push_str(&l.unwrap());
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}\n{seen}");
    assert!(
        seen.contains("stopped postgresql (SIGINT): exit status 0"),
        "{seen}"
    );
    a_projects_suite_gates_against_the_running_server(tmp.path(), &out);
}

/// A project's own suite, from a pinned archive, for the gate place "services" (the CI-sized
/// model of docassemble's behave suite against its server).
const SUITE_FEATURE: &str = "Feature: The server
  Scenario: The page lists the home directory
    When I fetch \"http://localhost:8080/\"
    Then the page says \"Directory listing\"

  Scenario: PostgreSQL answers over TCP
    Then PostgreSQL is ready on 127.0.0.1

  Scenario: The test package is there
    Then the file \"/usr/share/doc/postgresql/copyright\" exists

  Scenario: A page with other words
    When I fetch \"http://localhost:8080/\"
    Then the page says \"words that are not there\"
";

const SUITE_STEPS: &str = "import os, subprocess, urllib.request
from behave import when, then

@when('I fetch \"{url}\"')
def fetch(context, url):
    context.page = urllib.request.urlopen(url).read().decode()

@then('the page says \"{text}\"')
def says(context, text):
    assert text in context.page, context.page[:200]

@then('the file \"{path}\" exists')
def exists(context, path):
    assert os.path.exists(path), path

@then('PostgreSQL is ready on {host}')
def ready(context, host):
    assert os.getuid() != 0, 'the suite runs as the recipe user'
    subprocess.run(['/usr/lib/postgresql/17/bin/pg_isready', '-h', host], check=True)
";

/// `relsign test` of a recipe copy whose `[test.server]` runs the suite above (from an
/// `[[archive]]` fetched from a file mirror) against the image's services: the gating
/// scenarios pass and are recorded; a failing one and a name that is no scenario fail the gate,
/// named.
fn a_projects_suite_gates_against_the_running_server(tmp: &Path, out: &Path) {
    let src = tmp.join("suite-src/suite-1.0/tests/features");
    std::fs::create_dir_all(src.join("steps")).unwrap();
    std::fs::write(src.join("server.feature"), SUITE_FEATURE).unwrap();
    std::fs::write(src.join("steps/server_steps.py"), SUITE_STEPS).unwrap();
    let mirror = tmp.join("mirror");
    std::fs::create_dir_all(&mirror).unwrap();
    let tarball = mirror.join("suite-1.0.tar.gz");
    run_ok({
        let mut c = std::process::Command::new("tar");
        c.arg("-czf")
            .arg(&tarball)
            .arg("-C")
            .arg(tmp.join("suite-src"))
            .arg("suite-1.0");
        c
    });
    let bytes = std::fs::read(&tarball).unwrap();
    let sha = relsign::digest::Sha256Hex::of(&bytes);
    let dir = tmp.join("gated");
    std::fs::create_dir_all(dir.join("features")).unwrap();
    let gated = |gating: &str| {
        let extra = format!(
            "\n[[archive]]\nname = \"suite\"\nfile = \"suite-1.0.tar.gz\"\nsha256 = \"{sha}\"\nsize = {}\n\n\
             [test]\nfeatures = \"features\"\nrun-in = [\"services\"]\n\n\
             [test.server]\narchive = \"suite\"\nfeatures = \"tests/features\"\nuser = \"app\"\n\
             logs = [\"/etc/postgresql/17/main\", \"/var/log/not-made\"]\n\
             gating = [{gating}]\n",
            bytes.len()
        );
        recipe_copy(&dir, |t| format!("{}{extra}", with_test_package(t)))
    };
    let pass = gated(
        "{ feature = \"server.feature\", scenario = \"The page lists the home directory\" }, \
         { feature = \"server.feature\", scenario = \"PostgreSQL answers over TCP\" }, \
         { feature = \"server.feature\", scenario = \"The test package is there\" }",
    );
    let r = pass.to_str().unwrap();
    run_ok(relsign(&[
        "fetch",
        r,
        "--archive-mirror",
        mirror.to_str().unwrap(),
    ]));
    let rel = out.to_str().unwrap();
    let kept = dir.join("server-logs");
    std::fs::create_dir_all(kept.join("stale")).unwrap();
    let o = relsign(&[
        "test",
        r,
        "--release",
        rel,
        "--server-logs",
        kept.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("gating scenarios: 3 passed, 0 not passed"),
        "{text}"
    );
    // --server-logs: each service's output (the web server logged the suite's requests), the
    // [test.server] logs the run made (the cluster's configuration, made at first start),
    // nothing for a path it did not make, nothing left from before, nothing in the release.
    assert!(
        text.contains(&format!(
            "the services' logs are kept in {}",
            kept.display()
        )),
        "{text}"
    );
    let web = std::fs::read_to_string(kept.join("web.log")).unwrap();
    assert!(web.contains("\"GET / HTTP/1.1\" 200"), "{web}");
    assert!(kept.join("postgresql.log").is_file());
    let conf = kept.join("image/etc/postgresql/17/main/postgresql.conf");
    assert!(std::fs::read_to_string(&conf)
        .unwrap()
        .contains("data_directory"));
    assert!(!kept.join("image/var/log/not-made").exists());
    assert!(!kept.join("stale").exists());
    assert!(!out.join("test-results/services/web.log").exists());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("test-results/summary.json")).unwrap())
            .unwrap();
    let run = summary["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["place"] == "services")
        .unwrap_or_else(|| panic!("no services run in {summary}"))
        .clone();
    let statuses: Vec<(String, String)> = run["gating"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["scenario"].as_str().unwrap().into(),
                g["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (
                "The page lists the home directory".to_string(),
                "passed".to_string()
            ),
            (
                "PostgreSQL answers over TCP".to_string(),
                "passed".to_string()
            ),
            (
                "The test package is there".to_string(),
                "passed".to_string()
            ),
        ]
    );
    // Only the gating scenarios ran; the suite is recorded by digest.
    assert_eq!(
        (run["passed"].as_u64(), run["failed"].as_u64()),
        (Some(3), Some(0)),
        "{run}"
    );
    // The test package, by its locked digest.
    let lock =
        std::fs::read_to_string(root().join("recipes/server-mini.image.debian.lock.toml")).unwrap();
    let sha = lock
        .split("name = \"postgresql\"\n")
        .nth(1)
        .and_then(|t| t.split("sha256 = \"").nth(1))
        .and_then(|t| t.split('"').next())
        .unwrap();
    assert!(
        run["inputs"].as_array().unwrap().iter().any(|i| i[0]
            .as_str()
            .unwrap()
            .starts_with("test package postgresql ")
            && i[1] == sha),
        "the test package by digest: {run}"
    );
    let suite_digest = relsign::build::source::tree_digest(&src).unwrap();
    assert_eq!(
        run["inputs"][0],
        serde_json::json!(["archive suite: tests/features", suite_digest.as_str()]),
        "the suite by digest: {run}"
    );

    // A gating scenario that fails and a name that is no scenario: the gate fails, naming both.
    let fail = gated(
        "{ feature = \"server.feature\", scenario = \"A page with other words\" }, \
         { feature = \"server.feature\", scenario = \"No such scenario\" }",
    );
    let o = relsign(&["test", fail.to_str().unwrap(), "--release", rel])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("failed: server.feature :: A page with other words"),
        "{text}"
    );
    assert!(
        text.contains("not run: server.feature :: No such scenario"),
        "{text}"
    );
    assert!(
        text.contains("words that are not there"),
        "behave's own message:\n{text}"
    );
}

/// The recipe and what it refers to, copied into `dir`, with `edit` applied to the recipe.
fn recipe_copy(dir: &Path, edit: impl Fn(&str) -> String) -> PathBuf {
    let src = root().join("recipes");
    for f in [
        "server-mini.debian.lock.toml",
        "server-mini.image.debian.lock.toml",
        "pylock.server-mini.toml",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    copy_dir(&src.join("demo"), &dir.join("demo"));
    let text = std::fs::read_to_string(src.join("server-mini.toml")).unwrap();
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit applies");
    let r = dir.join("server-mini.toml");
    std::fs::write(&r, edited).unwrap();
    r
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_broken_service_is_named_with_its_log() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = recipe_copy(tmp.path(), |t| {
        t.replacen(
            "\"-D\", \"/var/lib/postgresql/17/main\"",
            "\"-D\", \"/var/lib/postgresql/17/no-such-cluster\"",
            1,
        )
    });
    let out = tmp.path().join("release");
    build(&recipe, &out);
    let err = services_refused(&out, &[]);
    assert!(
        err.contains("service `postgresql` exited before it was ready (exit status"),
        "{err}"
    );
    assert!(err.contains("--- its output, last 20 lines ---"), "{err}");
    assert!(
        err.contains("no-such-cluster"),
        "postgres's own message:\n{err}"
    );
    assert!(
        !err.contains("starting web"),
        "nothing starts after it:\n{err}"
    );

    // The same image, the services of other recipe copies (--services-from): a service that
    // never becomes ready is named with its output once its ready-timeout passes.
    std::fs::create_dir_all(tmp.path().join("never")).unwrap();
    let never = recipe_copy(&tmp.path().join("never"), |t| {
        t.replacen(
            "ready = { http = \"http://localhost:8080/\", expect = \"Directory listing\" }",
            "ready = { tcp = 8081 }\nready-timeout = 3",
            1,
        )
    });
    let err = services_refused(&out, &["--services-from", never.to_str().unwrap()]);
    assert!(
        err.contains("service `web` was not ready within 3 s (ready: tcp 127.0.0.1:8081)"),
        "{err}"
    );
    // http.server prints nothing before its first request, and the error says so.
    assert!(err.contains("(it printed nothing)"), "{err}");
    host_paths_are_bound_for_one_run(tmp.path(), &out);
}

/// `relsign run OUT --services EXTRA… -- echo never`, which must stop before the command
/// (exit 2); its stderr.
fn services_refused(out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["run", out.to_str().unwrap(), "--services"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "echo", "never"]);
    let o = relsign(&args).output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("never"));
    err
}

/// `--bind`: a host directory read-only, another writable, for this run only (on the
/// broken release of the test above, with the good recipe's services).
fn host_paths_are_bound_for_one_run(tmp: &Path, out: &Path) {
    let good = root().join("recipes/server-mini.toml");
    let input = tmp.join("input");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("suite.txt"), "from the host\n").unwrap();
    let results = tmp.join("results");
    std::fs::create_dir_all(&results).unwrap();
    let o = relsign(&[
        "run",
        out.to_str().unwrap(),
        "--services",
        "--services-from",
        good.to_str().unwrap(),
        "--bind",
        &format!("{}:/relsign/suite", input.display()),
        "--bind",
        &format!("{}:/relsign/out:rw", results.display()),
        "--bind",
        &format!("{}:/home/someone/deep/suite", input.display()),
        "--",
        "sh",
        "-c",
        "cat /relsign/suite/suite.txt > /relsign/out/seen.txt && ! touch /relsign/suite/x 2>/dev/null \
         && python3 -c \"import os; os.setgid(1000); os.setuid(1000); print(open('/home/someone/deep/suite/suite.txt').read(), end='')\" > /relsign/out/as-app.txt",
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(results.join("seen.txt")).unwrap(),
        "from the host\n"
    );
    assert!(!input.join("x").exists(), "the read-only bind was written");
    // Directories the image lacks above a bind are made 0755: another user reaches it.
    assert_eq!(
        std::fs::read_to_string(results.join("as-app.txt")).unwrap(),
        "from the host\n"
    );
    let o = relsign(&[
        "run",
        out.to_str().unwrap(),
        "--services",
        "--bind",
        "/tmp:relative",
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a plain absolute path"),
        "{}",
        stderr(&o)
    );
}
