//! The README's commands, run exactly as a new user types them: the main job from the "Two
//! commands" block and the live demo after it. `cargo xtask test` runs them last, so a README
//! that drifts from the code fails CI. The test command itself is skipped: it is what is running.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The command that runs this very suite.
const SELF: &str = "cargo xtask test";

pub fn run(root: &Path) -> Result<()> {
    let text = std::fs::read_to_string(root.join("README.md")).context("reading README.md")?;
    let commands = commands(&text)?;
    for command in &commands {
        eprintln!("$ {command}   (from README.md)");
        let status = Command::new("sh")
            .args(["-c", command])
            .current_dir(root)
            .status()
            .with_context(|| format!("running {command}"))?;
        if !status.success() {
            bail!("the README's command `{command}` failed with {status}");
        }
    }
    Ok(())
}

/// The shell lines of the first fenced block under "## Two commands" (comments and the test
/// command dropped), then the demo: the first inline `cargo run ... demo` in that section.
fn commands(readme: &str) -> Result<Vec<String>> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Two commands"))
        .context("README.md has no \"## Two commands\" section")?;
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .context("the \"Two commands\" section has no ```sh block")?;
    let mut commands: Vec<String> = block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && *l != SELF)
        .map(String::from)
        .collect();
    if !block.lines().any(|l| l.trim() == SELF) {
        bail!("the \"Two commands\" block does not run the suite with `{SELF}`");
    }
    // Inline code may wrap across lines in the Markdown source.
    let demo = section
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|code| code.split_whitespace().collect::<Vec<_>>().join(" "))
        .find(|code| code.starts_with("cargo run") && code.ends_with(" demo"))
        .context("the \"Two commands\" section names no `cargo run ... demo` command")?;
    commands.push(demo);
    Ok(commands)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_block_and_the_wrapped_demo() {
        let readme = "# x\n\n## Two commands\n\n```sh\n# main job\ncargo run -p a -- firmware x\n\n# suite\ncargo xtask test\n```\n\nThen `cargo run -p\na -- demo` runs.\n\n## Next\n\n```sh\nrm -rf /\n```\n";
        assert_eq!(
            commands(readme).unwrap(),
            ["cargo run -p a -- firmware x", "cargo run -p a -- demo"]
        );
    }

    #[test]
    fn a_readme_without_the_suite_command_is_an_error() {
        let readme = "## Two commands\n\n```sh\ncargo run x\n```\n\n`cargo run y demo`\n";
        assert!(commands(readme).is_err());
    }

    #[test]
    fn the_real_readme_has_both_commands() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = std::fs::read_to_string(root.join("README.md")).unwrap();
        let commands = commands(&text).unwrap();
        assert_eq!(commands.len(), 2, "{commands:?}");
        assert!(commands[0].contains("firmware"), "{commands:?}");
    }
}
