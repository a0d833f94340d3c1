//! [`Core`]: runs the [`Machine`] in one task and carries its effects out with the
//! [`Services`]. Every input (service results, the hotkey, the UI's commands) arrives on one
//! bounded channel, so the machine has one owner and the effects happen in order.

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::command_error::CommandError;
use crate::machine::{Effect, Event, Machine, Refusal};
use crate::msg::Msg;
use crate::services::{DownloadControl, Services, SessionReport, SpeedTestReporter, StageReport};
use crate::settings::Settings;
use crate::state::{AppState, ErrorAction, UiError};

/// A release followed by a press within this window is key auto-repeat, not a real release.
pub const RELEASE_DEBOUNCE: Duration = Duration::from_millis(80);

/// Capacity of the core's input channel.
const CHANNEL: usize = 256;

#[derive(Default)]
struct Shared {
    state: Option<AppState>,
    settings: Settings,
}

/// The handle the shell holds: send events and commands, read the state. Cheap to clone.
#[derive(Clone)]
pub struct Core {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Mutex<Shared>>,
}

impl Core {
    /// Starts the core's task on the current tokio runtime and sends [`Event::Launch`].
    pub fn start(machine: Machine, services: Services) -> Core {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let shared = Arc::new(Mutex::new(Shared {
            state: Some(machine.state().clone()),
            settings: machine.settings().clone(),
        }));
        let core = Core {
            tx: tx.clone(),
            shared: Arc::clone(&shared),
        };
        let runner = Runner {
            machine,
            services,
            tx,
            shared,
            download: None,
            published: None,
            delete_reply: None,
        };
        tokio::spawn(runner.run(rx));
        core.event(Event::Launch);
        core
    }

    fn shared(&self) -> parking_lot::MutexGuard<'_, Shared> {
        self.shared.lock()
    }

    /// A copy of the state.
    pub fn state(&self) -> AppState {
        self.shared()
            .state
            .clone()
            .unwrap_or_else(|| AppState::initial(&Settings::default()))
    }

    /// A copy of the settings in force.
    pub fn settings(&self) -> Settings {
        self.shared().settings.clone()
    }

    /// Sends an event without waiting (the hotkey, tray items). Dropped with a log line when
    /// the core is gone.
    pub fn event(&self, event: Event) {
        if let Err(e) = self.tx.try_send(Msg::Event(event)) {
            tracing::warn!("core input full or closed: {e}");
        }
    }

    /// Sends a command and waits until the core took it; a refusal is a sentence for the person.
    pub async fn command(&self, event: Event) -> Result<(), CommandError> {
        Ok(self.ask(|reply| Msg::Command(event, reply)).await??)
    }

    /// Validates, applies (shortcut, launch at login), persists and puts new settings in force;
    /// returns what is now in force. A failed shortcut change keeps the old shortcut and the
    /// old settings.
    pub async fn save_settings(&self, settings: Settings) -> Result<Settings, CommandError> {
        Ok(self
            .ask(|reply| Msg::SaveSettings(settings, reply))
            .await??)
    }

    /// The question to ask before `settings` stops a download or unloads the model (none: no
    /// confirmation needed). The UI asks it before [`Core::save_settings`].
    pub async fn restart_question(&self, settings: Settings) -> Option<String> {
        self.ask(|reply| Msg::RestartQuestion(settings, reply))
            .await
            .ok()
            .flatten()
    }

    /// "Delete model": removes `repo` from the cache and returns the bytes freed. When it is
    /// the repo in use, the core first cancels its download, closes the session and unloads
    /// the model, and plans again afterwards (a new download starts paused).
    pub async fn delete_model(&self, repo: String) -> Result<u64, CommandError> {
        Ok(self.ask(|reply| Msg::DeleteModel(repo, reply)).await??)
    }

    /// Sends the message `msg` builds around a reply channel and waits for the answer; the
    /// core's task having ended (the app quits) is the error.
    async fn ask<T>(&self, msg: impl FnOnce(oneshot::Sender<T>) -> Msg) -> Result<T, CommandError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(msg(reply))
            .await
            .map_err(|_| CommandError::shutting_down())?;
        rx.await.map_err(|_| CommandError::shutting_down())
    }
}

struct Runner {
    machine: Machine,
    services: Services,
    tx: mpsc::Sender<Msg>,
    shared: Arc<Mutex<Shared>>,
    download: Option<Box<dyn DownloadControl>>,
    published: Option<(AppState, crate::state::TrayState)>,
    /// The answer to the `DeleteModel` command being handled (taken by its effect).
    delete_reply: Option<oneshot::Sender<Result<u64, String>>>,
}

impl Runner {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Event(event) => {
                    if let Err(r) = self.handle(event) {
                        tracing::info!("refused: {r}");
                    }
                }
                Msg::RestartQuestion(settings, reply) => {
                    let _ = reply.send(self.machine.restart_question(&settings));
                }
                Msg::Command(event, reply) => {
                    let r = self.handle(event);
                    let _ = reply.send(r);
                }
                Msg::DeleteModel(repo, reply) => {
                    self.delete_reply = Some(reply);
                    if let Err(r) = self.handle(Event::DeleteModel { repo }) {
                        if let Some(reply) = self.delete_reply.take() {
                            let _ = reply.send(Err(r.0));
                        }
                    }
                }
                Msg::SaveSettings(settings, reply) => {
                    let r = self.save_settings(settings);
                    let _ = reply.send(r);
                }
            }
        }
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, Shared> {
        self.shared.lock()
    }

    fn handle(&mut self, event: Event) -> Result<(), Refusal> {
        let effects = self.machine.handle(event);
        self.publish();
        for effect in effects.clone()? {
            self.execute(effect);
        }
        effects.map(|_| ())
    }

    fn publish(&mut self) {
        let state = self.machine.state().clone();
        let tray = self.machine.tray();
        if self.published.as_ref() == Some(&(state.clone(), tray)) {
            return;
        }
        if self.published.as_ref().map(|(s, _)| s.stage) != Some(state.stage) {
            tracing::info!(stage = state.stage.as_str(), "stage changed");
        }
        if let Some(e) = &state.error {
            if self.published.as_ref().and_then(|(s, _)| s.error.as_ref()) != Some(e) {
                tracing::warn!(title = %e.title, message = %e.message, "needs the person");
            }
        }
        {
            let mut shared = self.lock();
            shared.state = Some(state.clone());
            shared.settings = self.machine.settings().clone();
        }
        self.services.shell.publish(&state, tray);
        self.published = Some((state, tray));
    }

    fn send_later(&self, fut: impl std::future::Future<Output = Event> + Send + 'static) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let event = fut.await;
            let _ = tx.send(Msg::Event(event)).await;
        });
    }

    fn execute(&mut self, effect: Effect) {
        let s = self.services.clone();
        let settings = self.machine.settings().clone();
        match effect {
            Effect::Detect { epoch } => self.send_later(async move {
                Event::Detected {
                    epoch,
                    result: s.detector.detect().await,
                }
            }),
            Effect::LookUpSpeed { hardware } => self.send_later(async move {
                let qualities = s.speed.qualities();
                let cached = tokio::task::spawn_blocking(move || s.speed.cached(&hardware))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()));
                Event::SpeedLooked { cached, qualities }
            }),
            Effect::MeasureSpeed { hardware } => {
                let report = SpeedTestReporter {
                    tx: self.tx.clone(),
                };
                self.send_later(async move {
                    Event::SpeedMeasured {
                        result: s.speed.measure(&hardware, report).await,
                    }
                })
            }
            Effect::StoreSpeed(report) => {
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = s.speed.store(&report) {
                        tracing::warn!("the speed test could not be stored: {e}");
                    }
                });
            }
            Effect::CancelSpeedTest => s.speed.cancel(),
            Effect::ProbeCache { epoch, candidates } => self.send_later(async move {
                let probe = tokio::task::spawn_blocking(move || {
                    (
                        s.hub.complete(&settings, &candidates),
                        s.hub.disk_free(&settings),
                    )
                })
                .await;
                let (complete, disk_free) = probe.unwrap_or_default();
                Event::CacheProbed {
                    epoch,
                    complete,
                    disk_free,
                }
            }),
            Effect::UseCache { epoch, plan } => self.send_later(async move {
                let result =
                    tokio::task::spawn_blocking(move || s.hub.cached_snapshot(&settings, &plan))
                        .await
                        .unwrap_or_else(|e| {
                            Err(UiError::new(
                                "Cache unreadable",
                                e.to_string(),
                                Some(ErrorAction::Retry),
                            ))
                        });
                Event::ModelFiles { epoch, result }
            }),
            Effect::Download {
                epoch,
                plan,
                paused,
            } => {
                let report = StageReport {
                    tx: self.tx.clone(),
                    epoch,
                };
                match s.hub.download(&settings, &plan, paused, report) {
                    Ok(download) => {
                        self.download = Some(download.control);
                        self.send_later(async move {
                            Event::ModelFiles {
                                epoch,
                                result: download.done.await,
                            }
                        });
                    }
                    Err(e) => self.send_later(async move {
                        Event::ModelFiles {
                            epoch,
                            result: Err(e),
                        }
                    }),
                }
            }
            Effect::PauseDownload(paused) => {
                if let Some(d) = &self.download {
                    d.pause(paused);
                }
            }
            Effect::CancelDownload => {
                if let Some(d) = self.download.take() {
                    d.cancel();
                }
            }
            Effect::Load { epoch, dir, plan } => {
                self.download = None;
                self.send_later(async move {
                    Event::Loaded {
                        epoch,
                        result: s.engine.load(dir, *plan).await,
                    }
                })
            }
            Effect::Unload => {
                tokio::spawn(s.engine.unload());
            }
            Effect::OpenSession { id, wait_for_talk } => {
                let report = SessionReport {
                    tx: self.tx.clone(),
                    id,
                };
                self.send_later(async move {
                    Event::SessionOpened {
                        id,
                        result: s.audio.open(&settings, wait_for_talk, report).await,
                    }
                })
            }
            Effect::CloseSession => {
                tokio::spawn(s.audio.close());
            }
            Effect::SetGate(on) => s.audio.set_gate(on),
            Effect::SetHandsFree(on) => s.audio.set_hands_free(on),
            Effect::ScheduleRelease { generation } => self.send_later(async move {
                s.clock.sleep(RELEASE_DEBOUNCE).await;
                Event::ReleaseDue { generation }
            }),
            Effect::ScheduleIdleClose { generation, after } => self.send_later(async move {
                s.clock.sleep(after).await;
                Event::IdleCloseDue { generation }
            }),
            Effect::DeleteModel {
                epoch,
                repo,
                in_use,
            } => {
                let reply = self.delete_reply.take();
                self.send_later(async move {
                    if in_use {
                        // The Unload and CloseSession effects before this one are running;
                        // these wait for them (both are queued behind them and idempotent).
                        s.audio.close().await;
                        s.engine.unload().await;
                    }
                    let result =
                        tokio::task::spawn_blocking(move || s.hub.delete(&settings, &repo))
                            .await
                            .unwrap_or_else(|e| {
                                Err(UiError::new(
                                    "Could not delete the model",
                                    e.to_string(),
                                    None,
                                ))
                            });
                    if let Some(reply) = reply {
                        let _ = reply.send(result.clone().map_err(|e| e.message));
                    }
                    Event::ModelDeleted {
                        epoch,
                        in_use,
                        result,
                    }
                })
            }
            Effect::Notify { title, body } => s.shell.notify(&title, &body),
            Effect::RememberPaused(paused) => s.store.remember_paused(paused),
            Effect::Exit => {
                tracing::info!("quitting");
                tokio::spawn(async move {
                    s.audio.close().await;
                    s.engine.unload().await;
                    s.shell.exit();
                });
            }
        }
    }

    fn save_settings(&mut self, mut new: Settings) -> Result<Settings, String> {
        new.validate().map_err(|e| e.to_string())?;
        let old = self.machine.settings().clone();
        new.has_token = false;
        if new.hotkey != old.hotkey {
            // The shell keeps the old shortcut when the new one cannot be registered.
            self.services
                .shell
                .register_shortcut(&new.hotkey)
                .map_err(|e| format!("{e} The shortcut stays {}.", self.machine.state().hotkey))?;
            let _ = self.handle(Event::ShortcutRegistered(new.hotkey.clone()));
        }
        if new.launch_at_login != old.launch_at_login {
            self.services
                .shell
                .set_launch_at_login(new.launch_at_login)?;
        }
        self.services.store.save_settings(&new)?;
        let _ = self.handle(Event::SettingsApplied(new.clone()));
        Ok(new)
    }
}
