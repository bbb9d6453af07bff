//! Links the `temper` binary with the functions it runs from start-up to its first calls placed
//! together, in the order of `startup-order.txt` (made by `scripts/startup-order.sh`), so that
//! an idle server maps about 2 MiB of its code instead of the 10 MiB it touched when those
//! functions were spread over the whole binary (the kernel maps code 64 KiB around each page
//! it faults in). Only on x86_64 Linux, where rustc links with LLD. The file names symbols as
//! the release build mangles them; names a build does not have (another profile, changed code)
//! are skipped without a warning.

fn main() {
    println!("cargo:rerun-if-changed=startup-order.txt");
    let env = |key: &str| std::env::var(key).unwrap_or_default();
    let lld_links = env("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && env("CARGO_CFG_TARGET_OS") == "linux"
        && env("CARGO_CFG_TARGET_ENV") == "gnu";
    if !lld_links {
        return;
    }
    let order = format!("{}/startup-order.txt", env("CARGO_MANIFEST_DIR"));
    println!("cargo:rustc-link-arg-bin=temper=-Wl,--symbol-ordering-file={order}");
    println!("cargo:rustc-link-arg-bin=temper=-Wl,--no-warn-symbol-ordering");
}
