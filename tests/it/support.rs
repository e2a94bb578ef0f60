//! Running the tillflow binary as a user would.

pub fn tillflow() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_tillflow"))
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
