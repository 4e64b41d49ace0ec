//! Starting a node: load config and identity, open the store, start the swarm, the core and
//! the control socket, and run until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use dmc_protocol::engine::{Engine, EngineConfig};
use dmc_protocol::{ConverterAd, NodeId};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::Config;
use crate::core::{spawn_core, CoreParts};
use crate::discovery::{self, txt::Role, watch::IfFilter, DiscoveryOptions};
use crate::{control, ffmpeg, identity, net, store};

/// How `dmc node` was invoked.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub data_dir: PathBuf,
    /// `--config FILE`; else `<data_dir>/config.toml`; else built-in defaults.
    pub config: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("converter: {0}")]
    Converter(String),
    #[error("network: {0}")]
    Net(String),
    #[error("network key: {0}")]
    Network(String),
    #[error(transparent)]
    Discovery(#[from] discovery::DiscoveryError),
    #[error("control socket: {0}")]
    Control(String),
    #[error("{0}")]
    Core(String),
    #[error(
        "another dmc node is already running with data dir {}; stop it first or pass another --data-dir",
        .0.display()
    )]
    AlreadyRunning(PathBuf),
}

/// Runs a node until SIGINT or SIGTERM.
pub async fn run_node(opts: RunOptions) -> Result<(), RunError> {
    let data_dir = opts.data_dir.clone();
    create_private_dir(&data_dir)?;
    let _lock = lock_data_dir(&data_dir)?;
    let config = Config::load(&data_dir, opts.config.as_deref())?;
    let (keypair, created) = identity::load_or_create(&data_dir)?;
    let me = NodeId::new(keypair.public().to_peer_id().to_base58());
    if created {
        info!(node_id = %me, "created a new node identity");
    }
    let (network_key, key_created) = crate::network_key::load_or_create(&data_dir)
        .map_err(|e| RunError::Network(e.to_string()))?;
    if key_created {
        info!(
            fingerprint = %network_key.fingerprint(),
            "created a new network key: this node forms a network of its own; to join this \
             machine to another network run `dmc network join CODE` with the code that \
             `dmc network show` prints there, or run `dmc network show` here and join the \
             others to this one"
        );
    } else {
        info!(fingerprint = %network_key.fingerprint(), "network key loaded");
    }
    info!(node_id = %me, name = %config.node.name, data_dir = %data_dir.display(), "starting dmc node");

    let store = store::Store::open(&data_dir).await?;
    let records = store.load_records().await?;
    let local_files = store.local_files().await?;
    let known_peers = store.peers().await?;

    // A converter advertises only what its ffmpeg can run.
    let mut runnable_profiles = Vec::new();
    let converter = if config.converter.enabled {
        let encoders = ffmpeg::available_encoders()
            .await
            .map_err(|e| RunError::Converter(e.to_string()))?;
        runnable_profiles =
            ffmpeg::converter_profiles(&encoders, &config.converter.custom_profiles)
                .map_err(RunError::Converter)?
                .into_iter()
                .map(|p| p.name.to_string())
                .collect();
        let wanted = &config.converter.profiles;
        let profiles: Vec<String> = runnable_profiles
            .iter()
            .filter(|p| wanted.is_empty() || wanted.contains(p))
            .filter(|p| {
                config.converter.profile(p).is_some_and(|prof| {
                    prof.media_types
                        .iter()
                        .any(|m| config.converter.media_types.contains(m))
                })
            })
            .cloned()
            .collect();
        if profiles.is_empty() {
            warn!("this converter can run no profile: check ffmpeg's encoders and [converter] settings");
        }
        std::fs::create_dir_all(&config.converter.work_dir).map_err(|e| RunError::DataDir {
            path: config.converter.work_dir.clone(),
            source: e,
        })?;
        info!(profiles = ?profiles, workers = config.converter.workers, "converter enabled");
        Some(ConverterAd {
            media_types: config.converter.media_types.clone(),
            profiles,
            workers: config.converter.workers,
        })
    } else {
        None
    };

    let engine = Engine::new(
        EngineConfig {
            signer: dmc_protocol::Signer::new(keypair.clone()),
            name: config.node.name.clone(),
            converter,
            lease: config.node.lease.as_millis() as u64,
            retention: config.converter.retention.as_millis() as u64,
            max_attempts: config.node.max_attempts,
            retry_backoff: config.node.retry_backoff.as_millis() as u64,
        },
        records,
    );
    // What the previous run left behind (its ffmpeg processes, partial files) goes before
    // this run starts any job.
    crate::core::cleanup::at_start(
        &store,
        &engine,
        &crate::core::cleanup::CleanupDirs {
            work_dir: config
                .converter
                .enabled
                .then(|| config.converter.work_dir.clone()),
            output_dir: config.node.output_dir.clone(),
        },
        &local_files,
    )
    .await;
    let (net_client, net_events) = net::spawn_net(
        keypair,
        config.node.listen.clone(),
        config.discovery.peers.clone(),
        net::Access {
            prologue: network_key.noise_prologue(),
            allowed_peers: (!config.network.allowed_peers.is_empty()).then(|| {
                config
                    .network
                    .allowed_peers
                    .iter()
                    .filter_map(|id| id.as_str().parse().ok())
                    .collect()
            }),
        },
    )
    .map_err(|e| RunError::Net(e.to_string()))?;

    // Peers seen before are redialled (with backoff) until they answer: static peers and
    // networks where mDNS is blocked keep working.
    for (peer, addrs) in crate::core::peers::dialable(&known_peers) {
        net_client.add_known_peer(peer, addrs).await;
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let _discovery = discovery::spawn_discovery(
        DiscoveryOptions {
            me: net_client.local_peer_id(),
            name: config.node.name.clone(),
            role: if config.converter.enabled {
                Role::Converter
            } else {
                Role::Client
            },
            mdns: config.discovery.mdns,
            network_fingerprint: network_key.fingerprint(),
            filter: IfFilter {
                names: config.discovery.interfaces.clone(),
                loopback: config.discovery.loopback,
            },
        },
        net_client.clone(),
        shutdown_rx.clone(),
    )?;
    if config.discovery.mdns {
        info!("mDNS discovery on");
    }
    let config = Arc::new(config);
    // Items that end here go out to `[notify]` and to the watch folders' `after_delivery`;
    // both subscribe before the core starts, so none is missed.
    let ended = crate::core::ended_channel();
    crate::announce::spawn_announcer(config.notify.clone(), ended.subscribe());
    let watch_ended = ended.subscribe();
    let (core, core_join) = spawn_core(
        CoreParts {
            engine,
            store: store.clone(),
            net: net_client,
            net_events,
            config: config.clone(),
            data_dir: data_dir.clone(),
            runnable_profiles,
            local_files,
            known_peers,
            ended,
        },
        shutdown_rx.clone(),
    );

    // Observed folders offer through the core like `dmc offer`.
    let _watches = crate::watch::spawn_watches(
        &config,
        core.clone(),
        store.clone(),
        watch_ended,
        shutdown_rx.clone(),
    );

    let socket = control::socket_path(&data_dir);
    let mut ctl_shutdown = shutdown_rx.clone();
    let control_task = {
        let socket = socket.clone();
        let group = config.control.group.clone();
        tokio::spawn(async move {
            control::serve_for(&socket, group.as_deref(), core, async move {
                let _ = ctl_shutdown.changed().await;
            })
            .await
        })
    };

    let mut term = signal(SignalKind::terminate()).map_err(|e| RunError::Core(e.to_string()))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| RunError::Core(e.to_string()))?;
    let mut core_join = core_join;
    let mut control_task = control_task;
    let result = tokio::select! {
        _ = term.recv() => { info!("SIGTERM: shutting down"); Ok(()) }
        _ = int.recv() => { info!("SIGINT: shutting down"); Ok(()) }
        r = &mut core_join => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(RunError::Core(e)),
            Err(e) => Err(RunError::Core(e.to_string())),
        },
        r = &mut control_task => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(RunError::Control(e.to_string())),
            Err(e) => Err(RunError::Control(e.to_string())),
        },
    };
    let _ = shutdown_tx.send(true);
    if !core_join.is_finished() {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(8), core_join).await;
    }
    let _ = std::fs::remove_file(&socket);
    info!("stopped");
    result
}

fn create_private_dir(dir: &std::path::Path) -> Result<(), RunError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| RunError::DataDir {
            path: dir.to_path_buf(),
            source: e,
        })
}

/// Holds an exclusive lock on `<data_dir>/node.lock` for as long as the node runs, so two
/// nodes never share one data dir (and so one identity and one store).
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, RunError> {
    use std::os::fd::AsRawFd;
    let path = dir.join("node.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| RunError::DataDir {
            path: path.clone(),
            source: e,
        })?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(RunError::AlreadyRunning(dir.to_path_buf()));
    }
    Ok(file)
}
