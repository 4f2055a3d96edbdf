//! `relsign __enter` (internal): how `relsign run --services` starts a process inside its
//! sandbox. It exits with the process's code (127 when it cannot start it).

use crate::cli::EnterArgs;
use relsign::error::Result;

pub fn run(a: EnterArgs) -> Result<()> {
    let e = relsign::services::Enter {
        pid: a.pid,
        uid: a.uid,
        gid: a.gid,
        groups: a.groups,
        cwd: a.cwd,
        argv: a.command,
    };
    match relsign::services::enter(&e) {
        Ok(code) => std::process::exit(code),
        Err(why) => {
            errln!("relsign __enter: {why}");
            std::process::exit(127)
        }
    }
}
