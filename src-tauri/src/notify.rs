//! Desktop notifications: "Moshi is ready", and errors that need the person.
//!
//! On macOS, inside `Moshibar.app`, notifications go through `UNUserNotificationCenter`: the
//! permission is requested once ([`init`], at launch; macOS shows its prompt only the first
//! time and remembers the answer), and clicking a notification opens the popover (the
//! delegate below). Outside a bundle (`cargo run`) macOS has no identity to attach them to, so
//! they go through tauri-plugin-notification (feature `notification`) like on Linux. Without
//! that feature they are only logged.

use tauri::{AppHandle, Runtime};

/// Requests the notification permission (macOS, bundled) and makes a click on one of our
/// notifications open the popover. Call once at launch, after the window exists.
pub fn init<R: Runtime>(app: &AppHandle<R>) {
    #[cfg(target_os = "macos")]
    {
        let handle = app.clone();
        let started = mac::init(
            Box::new(move || {
                let app = handle.clone();
                let _ = handle.run_on_main_thread(move || crate::window::show(&app));
            }),
            Box::new(|granted| tracing::info!(granted, "notification permission")),
        );
        if !started {
            tracing::info!("not running from Moshibar.app: notifications via the plugin");
        }
    }
    #[cfg(not(target_os = "macos"))]
    let _ = app;
}

/// Shows a notification (and logs it, so tests and support can see it either way).
pub fn notify<R: Runtime>(app: &AppHandle<R>, title: &str, body: &str) {
    tracing::info!(title, body, "notification");
    #[cfg(target_os = "macos")]
    if mac::post(title, body) {
        return;
    }
    #[cfg(feature = "notification")]
    {
        use tauri_plugin_notification::NotificationExt;
        if let Err(e) = app.notification().builder().title(title).body(body).show() {
            tracing::warn!("notification failed: {e}");
        }
    }
    #[cfg(not(feature = "notification"))]
    let _ = app;
}

#[cfg(target_os = "macos")]
mod mac {
    use parking_lot::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::OnceLock;

    use block2::RcBlock;
    use objc2::rc::Retained;
    use objc2::runtime::{Bool, NSObject, NSObjectProtocol, ProtocolObject};
    use objc2::{define_class, msg_send, AllocAnyThread};
    use objc2_foundation::{NSBundle, NSError, NSString};
    use objc2_user_notifications::{
        UNAuthorizationOptions, UNMutableNotificationContent, UNNotification,
        UNNotificationPresentationOptions, UNNotificationRequest, UNNotificationResponse,
        UNUserNotificationCenter, UNUserNotificationCenterDelegate,
    };

    /// What a click on a notification does (opens the popover).
    static ON_CLICK: OnceLock<Box<dyn Fn() + Send + Sync>> = OnceLock::new();
    /// Set once the delegate is installed: notifications go through the center.
    static ACTIVE: AtomicBool = AtomicBool::new(false);
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);

    define_class!(
        // SAFETY: NSObject has no subclassing requirements; the class has no ivars and no Drop.
        #[unsafe(super(NSObject))]
        #[name = "MoshibarNotificationDelegate"]
        struct Delegate;

        unsafe impl NSObjectProtocol for Delegate {}

        unsafe impl UNUserNotificationCenterDelegate for Delegate {
            #[unsafe(method(userNotificationCenter:didReceiveNotificationResponse:withCompletionHandler:))]
            fn did_receive(
                &self,
                _center: &UNUserNotificationCenter,
                _response: &UNNotificationResponse,
                completion: &block2::DynBlock<dyn Fn()>,
            ) {
                if let Some(open) = ON_CLICK.get() {
                    open();
                }
                completion.call(());
            }

            /// Show banners also while Moshibar is the active app (the popover has the focus).
            #[unsafe(method(userNotificationCenter:willPresentNotification:withCompletionHandler:))]
            fn will_present(
                &self,
                _center: &UNUserNotificationCenter,
                _notification: &UNNotification,
                completion: &block2::DynBlock<dyn Fn(UNNotificationPresentationOptions)>,
            ) {
                completion.call((UNNotificationPresentationOptions::Banner
                    | UNNotificationPresentationOptions::List
                    | UNNotificationPresentationOptions::Sound,));
            }
        }
    );

    impl Delegate {
        fn new() -> Retained<Self> {
            let this = Self::alloc().set_ivars(());
            // SAFETY: NSObject's init on a freshly allocated object.
            unsafe { msg_send![super(this), init] }
        }
    }

    /// UNUserNotificationCenter raises an Objective-C exception in a process without a bundle
    /// identifier (a bare binary): only use it inside the .app.
    fn bundled() -> bool {
        NSBundle::mainBundle().bundleIdentifier().is_some()
    }

    /// Installs the delegate and requests the permission. False when not bundled.
    pub(super) fn init(
        on_click: Box<dyn Fn() + Send + Sync>,
        on_answer: Box<dyn FnOnce(bool) + Send>,
    ) -> bool {
        if !bundled() {
            on_answer(false);
            return false;
        }
        let _ = ON_CLICK.set(on_click);
        let center = UNUserNotificationCenter::currentNotificationCenter();
        // The center keeps a weak reference: the delegate lives as long as the process.
        let delegate = Delegate::new();
        center.setDelegate(Some(ProtocolObject::from_ref(&*delegate)));
        std::mem::forget(delegate);
        ACTIVE.store(true, Ordering::SeqCst);

        let on_answer = Mutex::new(Some(on_answer));
        let done = RcBlock::new(move |granted: Bool, _error: *mut NSError| {
            if let Some(f) = on_answer.lock().take() {
                f(granted.as_bool());
            }
        });
        center.requestAuthorizationWithOptions_completionHandler(
            UNAuthorizationOptions::Alert | UNAuthorizationOptions::Sound,
            &done,
        );
        true
    }

    /// Posts through the center; false when [`init`] did not install it.
    pub(super) fn post(title: &str, body: &str) -> bool {
        if !ACTIVE.load(Ordering::SeqCst) {
            return false;
        }
        let content = UNMutableNotificationContent::new();
        content.setTitle(&NSString::from_str(title));
        content.setBody(&NSString::from_str(body));
        let id = format!("moshibar-{}", NEXT_ID.fetch_add(1, Ordering::SeqCst));
        let request = UNNotificationRequest::requestWithIdentifier_content_trigger(
            &NSString::from_str(&id),
            &content,
            None,
        );
        let done = RcBlock::new(|error: *mut NSError| {
            // SAFETY: the center passes nil or a valid NSError.
            if let Some(e) = unsafe { error.as_ref() } {
                tracing::warn!("notification not shown: {}", e.localizedDescription());
            }
        });
        UNUserNotificationCenter::currentNotificationCenter()
            .addNotificationRequest_withCompletionHandler(&request, Some(&done));
        true
    }
}
