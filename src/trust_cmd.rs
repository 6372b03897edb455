//! `tandem trust [DIR]` and `--trust`: the person grants (or revokes) trust in a workspace's project config.

use crate::cli::{TrustArgs, exit};
use crate::config::{Config, TrustState, trust};

/// Records trust in the workspace's project config as it is now.
pub fn grant(config: &Config) -> anyhow::Result<()> {
    if let TrustState::Refused(why) = &config.trust.state {
        anyhow::bail!("{}: cannot be trusted: {why}", config.trust.file.display());
    }
    trust::grant(&config.dirs, &config.workspace, &config.trust.hash)?;
    Ok(())
}

/// `tandem trust`: says what the project config sets that is now honoured, then records the trust.
pub fn run(config: &Config, args: &TrustArgs) -> anyhow::Result<u8> {
    let ws = config.workspace.display();
    if args.revoke {
        if trust::revoke(&config.dirs, &config.workspace)? {
            crate::outln!(
                "tandem: {ws} is no longer trusted; its project config may only narrow settings"
            );
        } else {
            crate::outln!("tandem: {ws} was not trusted");
        }
        return Ok(exit::OK);
    }
    if let Err(e) = grant(config) {
        crate::errln!("tandem: {}", crate::text::terminal_safe(&e.to_string()));
        return Ok(exit::USAGE);
    }
    match config.trust.state {
        TrustState::NoProjectFile => crate::outln!(
            "tandem: trusted {ws} (it has no .tandem/config.toml; one added later is not trusted until you run this again)"
        ),
        _ => {
            crate::outln!(
                "tandem: trusted {} (sha256 {}); a change to it revokes the trust",
                config.trust.file.display(),
                config.trust.hash
            );
            for i in &config.trust.ignored {
                crate::outln!(
                    "  now honoured: {}:{} `{}`",
                    config.trust.file.display(),
                    i.line,
                    crate::text::terminal_safe(&i.key)
                );
            }
        }
    }
    Ok(exit::OK)
}
