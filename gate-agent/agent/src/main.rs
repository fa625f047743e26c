//! `gate-agent`: runs one lane. Thin: parse arguments, load the
//! configuration, start the runtime, wait for a signal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use gate_agent::config::cli::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(gate_agent::config::cli::Command::Models { action }) = args.command {
        return models(action);
    }
    if let Some(path) = args.check_config {
        // The register profiles and files it names too, as the start would
        // read them (issue 18: a missing or broken profile passed here,
        // then the real start failed).
        return match gate_agent::startcheck::check_file(&path) {
            Ok(_) => {
                println!("{}: ok", path.display());
                ExitCode::SUCCESS
            }
            Err(problems) => {
                for p in problems {
                    eprintln!("{p}");
                }
                ExitCode::from(2)
            }
        };
    }
    let Some(path) = args.config else {
        return ExitCode::from(2);
    };
    let cfg = match gate_agent::config::Config::load(&path) {
        Ok(c) => c,
        Err(errs) => {
            for e in errs {
                eprintln!("{e}");
            }
            return ExitCode::from(2);
        }
    };
    let json = match args.log_format.as_deref() {
        Some(f) => f == "json",
        None => cfg.log.format == gate_agent::config::LogFormat::Json,
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if json {
        // One object per line: timestamp, level, target, the event's fields.
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_env_filter(filter)
            .init();
    } else {
        // Colours only on a terminal: a log file or the journal gets plain text.
        tracing_subscriber::fmt()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_env_filter(filter)
            .init();
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cfg, path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gate-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cfg: gate_agent::config::Config, path: PathBuf) -> anyhow::Result<()> {
    let control = cfg.control.clone();
    let metrics_cfg = cfg.clone(); // [metrics] and [console]
    let mut agent = gate_agent::runtime::start(cfg, &path).await?;
    // The gatectl endpoint; it stops (and removes its socket) with the lane.
    let _control = match &control {
        Some(c) => gate_agent::control::serve(&agent, c)?,
        None => {
            tracing::info!("no [control] section: no gatectl socket");
            None
        }
    };
    // The metrics and health endpoint, and the officer console, when
    // configured.
    let _metrics = gate_agent::metrics::serve(&agent, &metrics_cfg).await?;
    let _console = gate_agent::console::serve(&agent, &metrics_cfg).await?;
    // SIGHUP: read the configuration again (checked first; policy and
    // sequence apply between passages; runtime/reload.rs).
    #[cfg(unix)]
    {
        let (tx, link, path) = (agent.reload.clone(), agent.link.clone(), path.clone());
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    use gate_agent::runtime::reload::reload_from_file;
                    match reload_from_file(&tx, &link, &path, "SIGHUP", "signal").await {
                        Ok(o) => tracing::info!(
                            applied = ?o.applied,
                            deferred = o.deferred,
                            restart_needed = ?o.restart_needed,
                            "SIGHUP: configuration reloaded"
                        ),
                        Err(problems) => {
                            for p in problems {
                                tracing::error!("SIGHUP: configuration not reloaded: {p}");
                            }
                        }
                    }
                }
            });
        }
    }
    // Under systemd (Type=notify): the lane is up.
    gate_agent::service::ready();
    tokio::select! {
        r = agent.wait() => {
            gate_agent::service::stopping();
            r
        }
        _ = shutdown_signal() => {
            tracing::info!("stopping");
            gate_agent::service::stopping();
            agent.shutdown().await
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// `gate-agent models install|status`.
fn models(action: gate_agent::config::cli::ModelsCmd) -> ExitCode {
    use gate_agent::config::cli::ModelsCmd;
    use gate_ocr::models;
    match action {
        ModelsCmd::Install { from, dir } => {
            let dir = dir.unwrap_or_else(models::default_dir);
            // No source: the models the agent itself would use.
            let from = match from {
                Some(f) => f,
                None => match models::locate(&models::search_dirs()) {
                    Ok(p) => p
                        .det
                        .parent()
                        .map(std::path::Path::to_path_buf)
                        .unwrap_or_default(),
                    Err(_) => {
                        eprintln!("gate-agent models install: no FILE|DIR given and no verified models where the agent looks");
                        return ExitCode::FAILURE;
                    }
                },
            };
            let started = std::time::Instant::now();
            match models::install(&from, &dir) {
                Ok(p) => {
                    println!(
                        "installed and verified in {:.1} s:\n  {}\n  {}",
                        started.elapsed().as_secs_f64(),
                        p.det.display(),
                        p.rec.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("gate-agent models install {}: {e}", from.display());
                    ExitCode::FAILURE
                }
            }
        }
        ModelsCmd::Status { dir } => {
            let dirs = models::dirs_for(dir.as_deref());
            let mut found = false;
            for d in &dirs {
                match models::find(d) {
                    Ok(_) if !found => {
                        found = true;
                        println!("{}: verified (used)", d.display());
                    }
                    Ok(_) => println!("{}: verified", d.display()),
                    Err(e) => println!("{}: {e}", d.display()),
                }
            }
            if found {
                ExitCode::SUCCESS
            } else {
                eprintln!("no verified models: install the gate-agent-models package or run `gate-agent models install FILE|DIR`");
                ExitCode::FAILURE
            }
        }
    }
}
