//! Print a sample label or receipt: `cargo run -p wms-labels --example render -- shipping 203 zpl`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = args.get(1).map(String::as_str).unwrap_or("shipping");
    let dpi = args.get(2).and_then(|d| d.parse().ok()).unwrap_or(203);
    let format = args
        .get(3)
        .map(String::as_str)
        .unwrap_or_else(|| wms_labels::cli::default_format(kind));
    match wms_labels::cli::sample(kind, dpi, format) {
        Ok(bytes) => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(&bytes);
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(wms_labels::cli::exit_code(&e));
        }
    }
}
