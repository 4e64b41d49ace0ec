//! Starting a node: load config and identity, open the store, start the swarm, the core and
//! the control socket, and run until SIGINT or SIGTERM.

mod error;

pub use error::RunError;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dmc_protocol::engine::{Engine, EngineConfig, Restored};
use dmc_protocol::{ConverterAd, NodeId};
use libp2p::identity::Keypair;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::Config;
use crate::core::{spawn_core, ChangeSender, Commands, CoreFatal, CoreParts};
use crate::discovery::{self, txt::Role, watch::IfFilter, DiscoveryOptions};
use crate::network_key::NetworkKey;
use crate::{control, ffmpeg, identity, net, store};

/// How `dmc node` was invoked.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub data_dir: PathBuf,
    /// `--config FILE`; else `<data_dir>/config.toml`; else built-in defaults.
    pub config: Option<PathBuf>,
}

/// The engine as this node left it, with the converters' speeds measured before the
/// restart (the queue estimate keeps using them).
async fn restored_engine(store: &store::Store, cfg: EngineConfig, stored: Restored) -> Engine {
    let mut engine = Engine::restore(cfg, stored);
    match store.speeds().await {
        Ok(speeds) => engine.restore_speeds(speeds),
        Err(e) => warn!("could not load the converters' measured speeds: {e}"),
    }
    engine
}

/// Runs a node until SIGINT or SIGTERM.
pub async fn run_node(opts: RunOptions) -> Result<(), RunError> {
    let data_dir = opts.data_dir.clone();
    create_private_dir(&data_dir)?;
    let _lock = lock_data_dir(&data_dir)?;
    let config = Config::load(&data_dir, opts.config.as_deref())?;
    let keys = load_keys(&data_dir)?;
    // A dashboard on another address than loopback needs its password and certificate: a
    // node that would serve it unprotected does not start.
    let gui_exposure = crate::gui::prepare(&config.gui, &data_dir)?;
    info!(node_id = %keys.me, name = %config.node.name, data_dir = %data_dir.display(), "starting dmc node");

    let store = store::Store::open(&data_dir).await?;
    let config = Arc::new(config);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let Answering {
        core,
        commands,
        changes,
        socket,
        control_task,
    } = answer_first(&store, &keys, &config, gui_exposure, &shutdown_rx).await?;
    let started = fill_in_then_start(
        &store,
        &keys,
        config.clone(),
        commands,
        changes,
        &shutdown_rx,
    );
    let Started {
        core_join,
        watch_ended,
    } = match started.await {
        Ok(started) => started,
        Err(e) => {
            let _ = shutdown_tx.send(true);
            let _ = control_task.await;
            let _ = std::fs::remove_file(&socket);
            return Err(e);
        }
    };
    // Observed folders offer through the core like `dmc offer`.
    let _watches = crate::watch::spawn_watches(
        &config,
        core,
        store.clone(),
        watch_ended,
        shutdown_rx.clone(),
    );

    let (result, core_join) = run_until_stopped(core_join, control_task).await;
    let _ = shutdown_tx.send(true);
    if !core_join.is_finished() {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(8), core_join).await;
    }
    let _ = std::fs::remove_file(&socket);
    info!("stopped");
    result
}

/// The control socket and the dashboard, answering before the core runs, and what the core
/// takes over from them once it does.
struct Answering {
    core: crate::core::CoreHandle,
    commands: Commands,
    changes: ChangeSender,
    socket: PathBuf,
    control_task: JoinHandle<Result<(), control::ControlError>>,
}

/// Binds the control socket (and starts the dashboard) first: while an upgraded database is
/// filled in they answer from what the store holds (`core/upgrading.rs`); the core reads the
/// same commands once it runs.
async fn answer_first(
    store: &store::Store,
    keys: &Keys,
    config: &Arc<Config>,
    gui_exposure: Option<crate::gui::Exposure>,
    shutdown: &watch::Receiver<bool>,
) -> Result<Answering, RunError> {
    let (core, commands) = crate::core::command_channel();
    let changes = crate::core::changes_channel();
    let running = control::api::ConfigView::of(config, keys.network.fingerprint());
    let gui = start_gui(
        gui_exposure,
        config,
        store,
        &core,
        &running,
        changes.clone(),
        shutdown,
    );
    let socket = control::socket_path(&config.data_dir);
    let router = control::router(core.clone(), Some(running)).merge(gui.socket_routes());
    let bound = control::bind(&socket, config.control.group.as_deref())
        .await
        .map_err(RunError::Control)?;
    let control_task = spawn_control(&socket, bound, router, shutdown);
    Ok(Answering {
        core,
        commands,
        changes,
        socket,
        control_task,
    })
}

/// An upgraded database's items get their summary and end-time rows (or their tombstone)
/// first, a batch at a time, so the restore in [`start_core`] loads only open items and
/// nothing is scheduled before every item's state is known; then the core starts.
async fn fill_in_then_start(
    store: &store::Store,
    keys: &Keys,
    config: Arc<Config>,
    mut commands: Commands,
    changes: ChangeSender,
    shutdown: &watch::Receiver<bool>,
) -> Result<Started, RunError> {
    let rules = crate::core::upgrade::FillInRules {
        now: crate::core::now_ms(),
        me: keys.me.clone(),
        keep_finished: config.node.keep_finished.as_millis() as u64,
    };
    let answering = node_view(keys, &config, &config.data_dir);
    crate::core::upgrading::fill_in_answering(store, &rules, &mut commands, answering).await?;
    start_core(store, keys, config, commands, changes, shutdown).await
}

/// What [`start_core`] gives back: the core's task and the watch folders' feed of ended items.
struct Started {
    core_join: JoinHandle<Result<(), CoreFatal>>,
    watch_ended: crate::core::EndedReceiver,
}

/// Restores the engine from the store (once every item's state is known), cleans up after
/// the previous run, starts the swarm, discovery and the core, which reads `commands`.
async fn start_core(
    store: &store::Store,
    keys: &Keys,
    config: Arc<Config>,
    commands: Commands,
    changes: ChangeSender,
    shutdown: &watch::Receiver<bool>,
) -> Result<Started, RunError> {
    let stored = store.load_state().await?;
    let local_files = store.local_files().await?;
    let known_peers = store.peers().await?;
    let converter = converter_setup(&config).await?;
    let engine = restored_engine(store, engine_config(keys, &config, converter.ad), stored).await;
    clean_up_previous_run(store, &engine, &config, &local_files).await;
    let (net_client, net_events) = start_net(keys, &config)?;
    // Peers seen before are redialled (with backoff) until they answer: static peers and
    // networks where mDNS is blocked keep working.
    for (peer, addrs) in crate::core::peers::dialable(&known_peers) {
        net_client.add_stored_peer(peer, addrs).await;
    }
    // Runs until shutdown; its handle is not needed.
    let _discovery = start_discovery(&config, &keys.network, &net_client, shutdown)?;
    // Items that end here go out to `[notify]` and to the watch folders' `after_delivery`;
    // both subscribe before the core starts, so none is missed.
    let ended = crate::core::ended_channel();
    crate::announce::spawn_announcer(config.notify.clone(), ended.subscribe());
    let watch_ended = ended.subscribe();
    let core_join = spawn_core(
        CoreParts {
            engine,
            store: store.clone(),
            net: net_client,
            net_events,
            config: config.clone(),
            data_dir: config.data_dir.clone(),
            runnable_profiles: converter.runnable,
            local_files,
            known_peers,
            ended,
            changes,
            commands,
        },
        shutdown.clone(),
    );
    Ok(Started {
        core_join,
        watch_ended,
    })
}

/// This node as `info` shows it while the database is upgraded (not listening yet).
fn node_view(keys: &Keys, config: &Config, data_dir: &Path) -> control::api::NodeView {
    control::api::NodeView {
        node_id: keys.me.clone(),
        name: config.node.name.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        data_dir: data_dir.display().to_string(),
        listen_addrs: Vec::new(),
        converter: config.converter.enabled,
        output_dir: config.node.output_dir.display().to_string(),
        upgrading: None,
    }
}

/// Starts the dashboard on `[gui] listen` (when set) with the control API's router; gives
/// back its state for the control socket's login-link route. One that cannot start is
/// logged and reported to `dmc gui`, and the node runs on without it.
fn start_gui(
    exposure: Option<crate::gui::Exposure>,
    config: &Config,
    store: &store::Store,
    core: &crate::core::CoreHandle,
    running: &control::api::ConfigView,
    changes: crate::core::ChangeSender,
    shutdown: &watch::Receiver<bool>,
) -> crate::gui::Gui {
    let gui = crate::gui::Gui::new(exposure.as_ref(), config.data_dir.clone());
    if let Some(exposure) = exposure {
        let api = control::router(core.clone(), Some(running.clone()));
        let parts = crate::gui::Parts {
            api,
            core: core.clone(),
            store: store.clone(),
            changes,
            upload_dir: config.gui.upload_dir.clone(),
        };
        tokio::spawn(crate::gui::serve(
            gui.clone(),
            exposure,
            parts,
            shutdown.clone(),
        ));
    }
    gui
}

/// Serves the control API's `router` on `socket` (bound) until shutdown.
fn spawn_control(
    socket: &Path,
    bound: control::Bound,
    router: axum::Router,
    shutdown: &watch::Receiver<bool>,
) -> JoinHandle<Result<(), control::ControlError>> {
    let socket = socket.to_path_buf();
    let mut ctl_shutdown = shutdown.clone();
    tokio::spawn(async move {
        let stop = async move {
            let _ = ctl_shutdown.changed().await;
        };
        control::serve_bound(&socket, bound, router, stop).await
    })
}

/// This node's identity and network key.
struct Keys {
    keypair: Keypair,
    me: NodeId,
    network: NetworkKey,
}

/// Loads (or makes, on first start) the node's identity and network key, saying so.
fn load_keys(data_dir: &Path) -> Result<Keys, RunError> {
    let (keypair, created) = identity::load_or_create(data_dir)?;
    let me = NodeId::new(keypair.public().to_peer_id().to_base58());
    if created {
        info!(node_id = %me, "created a new node identity");
    }
    let (network, key_created) =
        crate::network_key::load_or_create(data_dir).map_err(RunError::NetworkKey)?;
    if key_created {
        info!(
            fingerprint = %network.fingerprint(),
            "created a new network key: this node forms a network of its own; to join this \
             machine to another network run `dmc network join CODE` with the code that \
             `dmc network show` prints there, or run `dmc network show` here and join the \
             others to this one"
        );
    } else {
        info!(fingerprint = %network.fingerprint(), "network key loaded");
    }
    Ok(Keys {
        keypair,
        me,
        network,
    })
}

/// What this node converts: its advert (none when it is not a converter) and the names of
/// every profile its ffmpeg can run.
struct ConverterSetup {
    ad: Option<ConverterAd>,
    runnable: Vec<String>,
}

/// A converter advertises only what its ffmpeg can run; it gets its work folder.
async fn converter_setup(config: &Config) -> Result<ConverterSetup, RunError> {
    let c = &config.converter;
    if !c.enabled {
        return Ok(ConverterSetup {
            ad: None,
            runnable: Vec::new(),
        });
    }
    let encoders = ffmpeg::available_encoders()
        .await
        .map_err(RunError::Encoders)?;
    let profiles = c
        .profiles_with(&encoders)
        .map_err(RunError::MissingEncoder)?;
    let advertised: Vec<String> = profiles
        .advertised
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    if advertised.is_empty() {
        warn!(
            "this converter can run no profile: check ffmpeg's encoders and [converter] settings"
        );
    }
    // Private (0700): peers' sources and results in progress are no one else's business.
    create_private_dir(&c.work_dir)?;
    info!(profiles = %advertised.join(","), workers = c.workers, "converter enabled");
    Ok(ConverterSetup {
        ad: Some(ConverterAd {
            media_types: c.media_types.clone(),
            profiles: advertised,
            workers: c.workers,
            // Segments of other converters' items (sub-items) are encoded here too.
            segments: true,
        }),
        runnable: profiles
            .runnable
            .iter()
            .map(|p| p.name.to_string())
            .collect(),
    })
}

/// The engine's settings: this node's key and name, its advert, and the configured lease,
/// retention, retries and per-peer record budget.
fn engine_config(keys: &Keys, config: &Config, converter: Option<ConverterAd>) -> EngineConfig {
    EngineConfig {
        signer: dmc_protocol::Signer::new(keys.keypair.clone()),
        name: config.node.name.clone(),
        converter,
        lease: config.node.lease.as_millis() as u64,
        retention: config.converter.retention.as_millis() as u64,
        max_attempts: config.node.max_attempts,
        retry_backoff: config.node.retry_backoff.as_millis() as u64,
        keep_finished: config.node.keep_finished.as_millis() as u64,
        budget: config.network.budget,
        // Peers' `Sync` is answered from the store (`store/sync_page.rs`).
        drop_ended: true,
    }
}

/// What the previous run left behind (its ffmpeg processes, partial files) goes before this
/// run starts any job.
async fn clean_up_previous_run(
    store: &store::Store,
    engine: &Engine,
    config: &Config,
    local_files: &[store::LocalFile],
) {
    crate::core::cleanup::at_start(
        store,
        engine,
        &crate::core::cleanup::CleanupDirs {
            work_dir: config
                .converter
                .enabled
                .then(|| config.converter.work_dir.clone()),
            output_dir: config.node.output_dir.clone(),
        },
        local_files,
    )
    .await;
}

/// Starts the swarm: listens, dials the static peers, and admits holders of the network key
/// (and only `[network] allowed_peers`, when set).
fn start_net(
    keys: &Keys,
    config: &Config,
) -> Result<(net::NetClient, mpsc::Receiver<net::NetEvent>), RunError> {
    let allowed = &config.network.allowed_peers;
    net::spawn_net(
        keys.keypair.clone(),
        config.node.listen.clone(),
        config.discovery.peers.clone(),
        net::Access {
            prologue: keys.network.noise_prologue(),
            allowed_peers: (!allowed.is_empty()).then(|| {
                allowed
                    .iter()
                    .filter_map(|id| id.as_str().parse().ok())
                    .collect()
            }),
        },
    )
    .map_err(RunError::Swarm)
}

/// Starts mDNS (when on) and the interface watcher.
fn start_discovery(
    config: &Config,
    network_key: &NetworkKey,
    net_client: &net::NetClient,
    shutdown: &watch::Receiver<bool>,
) -> Result<JoinHandle<()>, RunError> {
    let started = discovery::spawn_discovery(
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
        shutdown.clone(),
    )?;
    if config.discovery.mdns {
        info!("mDNS discovery on");
    }
    Ok(started)
}

/// Waits for SIGTERM, SIGINT, or the core or the control socket stopping; gives back the
/// core's task so the caller can let it finish.
async fn run_until_stopped(
    mut core_join: JoinHandle<Result<(), CoreFatal>>,
    mut control_task: JoinHandle<Result<(), control::ControlError>>,
) -> (Result<(), RunError>, JoinHandle<Result<(), CoreFatal>>) {
    let signals = signal(SignalKind::terminate())
        .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)));
    let (mut term, mut int) = match signals {
        Ok(s) => s,
        Err(e) => return (Err(RunError::Signals(e)), core_join),
    };
    let result = tokio::select! {
        _ = term.recv() => { info!("SIGTERM: shutting down"); Ok(()) }
        _ = int.recv() => { info!("SIGINT: shutting down"); Ok(()) }
        r = &mut core_join => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(RunError::Core(e)),
            Err(e) => Err(RunError::CoreTask(e)),
        },
        r = &mut control_task => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(RunError::Control(e)),
            Err(e) => Err(RunError::ControlTask(e)),
        },
    };
    (result, core_join)
}

fn create_private_dir(dir: &Path) -> Result<(), RunError> {
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
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, RunError> {
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
