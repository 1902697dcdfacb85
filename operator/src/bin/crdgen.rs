//! Writes the operator's CRDs as YAML, one file per kind, into each directory given (`crds/`
//! and the chart's `charts/strom/crds/`), or checks that the files there are current
//! (`--check`, exit 1 when stale).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    args.retain(|a| a != "--check");
    if args.is_empty() {
        args = vec!["crds".into(), "charts/strom/crds".into()];
    }
    let mut stale = Vec::new();
    for dir in args.iter().map(PathBuf::from) {
    for crd in strom_operator::crd::all() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let text = strom_operator::crd_yaml(&crd);
        let path = dir.join(format!("{name}.yaml"));
        if check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(path.display().to_string());
            }
        } else if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, text)) {
            eprintln!("crdgen: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    }
    if !stale.is_empty() {
        eprintln!("crdgen: stale or missing (run `cargo run -p strom-operator --bin crdgen`): {}", stale.join(", "));
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
