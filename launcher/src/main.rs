//! `launcher`: see the `kiln_launcher` crate docs. Exits 82 with `launcher: <message>` on
//! stderr when it cannot start the process; otherwise the process replaces it.

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let error = kiln_launcher::run(&argv, std::env::vars_os());
    eprintln!("launcher: {error}");
    std::process::exit(kiln_launcher::EXIT_CODE);
}
