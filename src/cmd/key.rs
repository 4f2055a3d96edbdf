//! `relsign key generate|show`: Ed25519 signing keys.

use crate::args::passphrase;
use crate::output::print_json;
use crate::trust_cli::KeyCommand;
use relsign::error::Result;
use relsign::keys::{self, PublicKey};

pub fn run(cmd: KeyCommand, json: bool) -> Result<()> {
    match cmd {
        KeyCommand::Generate { out, force, pass } => {
            let pass = passphrase(&pass, &out, true)?;
            let g = keys::generate(&out, &pass, force)?;
            if json {
                print_json(
                    serde_json::json!({"ok": true, "private_key": g.private_key, "public_key": g.public_key, "key_id": g.key_id}),
                );
            } else {
                outln!("wrote {} (encrypted, mode 0600)", g.private_key.display());
                outln!("wrote {}", g.public_key.display());
                outln!("key id {}", g.key_id);
            }
            Ok(())
        }
        KeyCommand::Show { file } => {
            let k = PublicKey::read(&file)?;
            if json {
                print_json(
                    serde_json::json!({"ok": true, "file": file, "key_id": k.key_id(), "fingerprint": k.fingerprint(), "public_key_pem": k.to_pem()}),
                );
            } else {
                outln!("{}", k.key_id());
            }
            Ok(())
        }
    }
}
