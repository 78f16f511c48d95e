use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use stromwart::sml::decode;

/// Local energy bridge: SML and Modbus meters to Home Assistant and openHAB over MQTT.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode SML and print one JSON object per frame.
    Sml {
        #[command(subcommand)]
        command: SmlCommand,
    },
}

#[derive(Subcommand)]
enum SmlCommand {
    /// Decode a capture (binary, or hex with --hex) from FILE or standard input.
    Decode {
        /// The capture; `-` or nothing reads standard input.
        file: Option<PathBuf>,
        /// The input is hex text (whitespace and `#` comment lines are ignored).
        #[arg(long)]
        hex: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sml {
            command: SmlCommand::Decode { file, hex },
        } => sml_decode(file, hex),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("stromwart: {e}");
            ExitCode::FAILURE
        }
    }
}

fn sml_decode(file: Option<PathBuf>, hex: bool) -> Result<ExitCode, String> {
    let mut bytes = Vec::new();
    match file.as_deref() {
        None => std::io::stdin().read_to_end(&mut bytes),
        Some(p) if p.as_os_str() == "-" => std::io::stdin().read_to_end(&mut bytes),
        Some(p) => std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut bytes)),
    }
    .map_err(|e| format!("cannot read {}: {e}", describe(file.as_deref())))?;
    if hex {
        let text = String::from_utf8(bytes).map_err(|_| "--hex input is not text".to_string())?;
        bytes = decode::parse_hex(&text)?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_err = None;
    decode::decode_stream(&bytes, &mut |o| {
        if write_err.is_none() {
            let line = serde_json::to_string(&o).unwrap_or_default();
            write_err = writeln!(out, "{line}").err();
        }
    });
    match write_err {
        Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.to_string()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn describe(file: Option<&std::path::Path>) -> String {
    file.map_or_else(|| "standard input".into(), |p| p.display().to_string())
}
