//! Running the tillflow binary as a user would.

pub fn tillflow() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_tillflow"))
}

/// The key of `Pseudonyms::known()`, in hex: runs whose views a test compares across `--out`
/// folders share it, since each new folder otherwise makes its own key.
pub const KNOWN_KEY: &str = "0707070707070707070707070707070707070707070707070707070707070707";

/// [`run_ok`] with the pseudonyms of [`KNOWN_KEY`].
pub fn run_ok_keyed(args: &[&str]) -> String {
    let output = tillflow().args(args).env("TILLFLOW_PSEUDONYM_KEY", KNOWN_KEY).output().unwrap();
    assert!(output.status.success(), "tillflow {args:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Runs the binary; panics with its output unless it succeeds. Returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let output = tillflow().args(args).output().unwrap();
    assert!(
        output.status.success(),
        "tillflow {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
