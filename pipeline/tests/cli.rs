//! The binary's `check` and `--version`, run as a user would.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strom-pipeline"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run strom-pipeline");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn version() {
    let (code, stdout, _) = run(&["--version"]);
    assert_eq!((code, stdout.trim()), (0, concat!("strom-pipeline ", env!("CARGO_PKG_VERSION"))));
}

#[test]
fn check_summarises_or_names_file_and_line() {
    let (code, stdout, _) = run(&["check", "--config", "tests/fixtures/seed-pipeline.yaml"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("tests/fixtures/seed-pipeline.yaml: ok; ship: 2 input(s)"), "{stdout}");
    let (code, _, stderr) = run(&["check", "--from", "logstash", "--config", "tests/fixtures/seed-nginx.conf"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("tests/fixtures/seed-nginx.conf: expected `}`, found end of file at line 26"), "{stderr}");
    let (code, stdout, _) = run(&["check", "--from", "filebeat", "--config", "tests/fixtures/seed-filebeat-reconstructed.yml"]);
    assert_eq!(code, 0, "{stdout}");
    let (code, _, stderr) = run(&["check", "--config", "tests/fixtures/missing.yaml"]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("failed to read config file tests/fixtures/missing.yaml"), "{stderr}");
}
