//! The audio route: what kind of devices the session plays and records on, and what follows
//! from that for echo. Worn headphones or a headset carry no speaker sound back into a
//! microphone, so the echo canceller is skipped there; a Bluetooth output records through the
//! built-in microphone unless the person picked one (opening a Bluetooth headset's microphone
//! switches it to its low-quality call profile on macOS); and when the speaker is in the room
//! and no canceller runs, the session tells the person to use headphones.
//!
//! [`DeviceTraits`] come from the best source each platform has: cpal's description (device and
//! interface type, filled by some hosts), CoreAudio's transport type and the built-in output's
//! data source on macOS, PulseAudio's `device.bus`, `device.form_factor` and active port on
//! Linux, then the device's name. [`plan_route`] is the decision, a pure function.

use serde::{Deserialize, Serialize};

/// How a device is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Transport {
    /// Part of the computer (laptop speakers and microphone, the headphone jack).
    BuiltIn,
    /// Bluetooth (classic or LE).
    Bluetooth,
    /// USB.
    Usb,
    /// Software only (loopbacks, null sinks, aggregates).
    Virtual,
    /// Something else (HDMI, Thunderbolt, AirPlay, …).
    Other,
    /// Not known.
    #[default]
    Unknown,
}

/// What a device is, as far as echo goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Form {
    /// A loudspeaker in the room.
    Speaker,
    /// Worn headphones or earbuds (output only).
    Headphones,
    /// A worn headset (headphones with a microphone).
    Headset,
    /// A microphone.
    Microphone,
    /// Not known.
    #[default]
    Unknown,
}

/// What the session knows about one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DeviceTraits {
    /// The device's name (as shown in Settings).
    pub name: String,
    /// How it is connected.
    pub transport: Transport,
    /// What it is.
    pub form: Form,
}

impl DeviceTraits {
    /// Worn on the head: its sound does not reach a microphone in the room.
    pub fn is_worn(&self) -> bool {
        matches!(self.form, Form::Headphones | Form::Headset)
    }

    /// Fills what is still unknown from the device's name (the last resort: "AirPods",
    /// "Headphones", "Headset", "Built-in", "Bluetooth", …).
    pub fn guess_from_name(mut self) -> Self {
        let n = self.name.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| n.contains(w));
        if self.form == Form::Unknown {
            if has(&["headset", "hands-free", "handsfree", "hfp", "hsp"]) {
                self.form = Form::Headset;
            } else if has(&[
                "headphone",
                "airpods",
                "earbud",
                "earphone",
                "buds",
                "beats",
                "wh-1000",
                "wf-1000",
                "bose qc",
                "quietcomfort",
            ]) {
                self.form = Form::Headphones;
            } else if has(&["speaker", "lautsprecher", "haut-parleur"]) {
                self.form = Form::Speaker;
            } else if has(&["microphone", "mic"]) {
                self.form = Form::Microphone;
            }
        }
        if self.transport == Transport::Unknown {
            if has(&["bluetooth", "bluez", "airpods", "a2dp"]) {
                self.transport = Transport::Bluetooth;
            } else if has(&["built-in", "builtin", "internal", "macbook"]) {
                self.transport = Transport::BuiltIn;
            } else if has(&["usb"]) {
                self.transport = Transport::Usb;
            } else if has(&["null", "monitor of", "loopback", "virtual"]) {
                self.transport = Transport::Virtual;
            }
        }
        self
    }
}

/// Something the person should know about the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RouteNotice {
    /// The speaker is in the room and nothing cancels its echo: Moshi will hear itself.
    UseHeadphones,
}

impl RouteNotice {
    /// The sentence for the person.
    pub fn message(self) -> &'static str {
        match self {
            RouteNotice::UseHeadphones => {
                "Moshi may hear itself through the speakers: use headphones for a clean conversation"
            }
        }
    }
}

/// What the session does on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutePlan {
    /// Run the echo canceller.
    pub cancel_echo: bool,
    /// Record through the built-in microphone instead of the default input.
    pub prefer_built_in_input: bool,
    /// Tell the person this.
    pub notice: Option<RouteNotice>,
}

/// The decision. `input_chosen`: the person picked the input device (then it is never
/// replaced); `wanted`: echo cancellation is on in the config; `available`: a canceller exists
/// on this platform/build.
pub fn plan_route(
    input: &DeviceTraits,
    output: &DeviceTraits,
    input_chosen: bool,
    wanted: bool,
    available: bool,
) -> RoutePlan {
    let worn = output.is_worn();
    let cancel_echo = wanted && available && !worn;
    // A Bluetooth output with its own microphone in use drops to the call profile; the
    // built-in microphone keeps the headphones in high quality (and, worn, hears no echo).
    let prefer_built_in_input = !input_chosen
        && output.transport == Transport::Bluetooth
        && input.transport != Transport::BuiltIn;
    let notice = (!worn && !cancel_echo).then_some(RouteNotice::UseHeadphones);
    RoutePlan {
        cancel_echo,
        prefer_built_in_input,
        notice,
    }
}

/// Maps PulseAudio's device properties (`device.bus`, `device.form_factor`, `device.class`,
/// the active port's name) to traits; `input`: a source, else a sink. Linux only (the PulseAudio
/// route probe); the unit tests run it everywhere.
#[cfg(any(target_os = "linux", test))]
pub fn from_pulse_properties(
    props: &serde_json::Map<String, serde_json::Value>,
    active_port: Option<&str>,
    input: bool,
) -> (Transport, Form) {
    let get = |k: &str| props.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let transport = match get("device.bus") {
        "bluetooth" => Transport::Bluetooth,
        "usb" => Transport::Usb,
        "pci" | "isa" | "platform" => Transport::BuiltIn,
        _ if get("device.api") == "bluez" || get("device.api") == "bluez5" => Transport::Bluetooth,
        _ if get("device.class") == "abstract" || get("device.class") == "monitor" => {
            Transport::Virtual
        }
        _ => Transport::Unknown,
    };
    let port = active_port.unwrap_or("").to_lowercase();
    let form = match get("device.form_factor") {
        "headset" | "hands-free" | "handset" => Form::Headset,
        "headphone" => Form::Headphones,
        "speaker" => Form::Speaker,
        "microphone" | "webcam" => Form::Microphone,
        "internal" if input => Form::Microphone,
        "internal" => Form::Speaker,
        _ if port.contains("headset") => Form::Headset,
        _ if port.contains("headphone") => Form::Headphones,
        _ if port.contains("speaker") => Form::Speaker,
        _ if port.contains("mic") => Form::Microphone,
        _ => Form::Unknown,
    };
    (transport, form)
}

/// Asks the PulseAudio server (`pactl`) about the sink or source `name` (`None`: the default
/// one). `None` when there is no server or no such device.
#[cfg(target_os = "linux")]
pub fn pulse_traits(name: Option<&str>, input: bool) -> Option<(Transport, Form)> {
    use std::process::Command;
    let run = |args: &[&str]| -> Option<String> {
        let out = Command::new("pactl").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let name = match name {
        Some(n) => n.to_string(),
        None => run(&[if input {
            "get-default-source"
        } else {
            "get-default-sink"
        }])?
        .trim()
        .to_string(),
    };
    let list = run(&[
        "-f",
        "json",
        "list",
        if input { "sources" } else { "sinks" },
    ])?;
    let list: Vec<serde_json::Value> = serde_json::from_str(&list).ok()?;
    let dev = list
        .iter()
        .find(|d| d.get("name").and_then(|n| n.as_str()) == Some(name.as_str()))?;
    let props = dev.get("properties")?.as_object()?;
    let port = dev.get("active_port").and_then(|p| p.as_str());
    Some(from_pulse_properties(props, port, input))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(name: &str, transport: Transport, form: Form) -> DeviceTraits {
        DeviceTraits {
            name: name.into(),
            transport,
            form,
        }
    }

    #[test]
    fn laptop_speakers_cancel_the_echo() {
        let mic = dev(
            "MacBook Pro Microphone",
            Transport::BuiltIn,
            Form::Microphone,
        );
        let spk = dev("MacBook Pro Speakers", Transport::BuiltIn, Form::Speaker);
        let p = plan_route(&mic, &spk, false, true, true);
        assert!(p.cancel_echo && !p.prefer_built_in_input);
        assert_eq!(p.notice, None);
    }

    #[test]
    fn headphones_skip_the_canceller_and_need_no_notice() {
        let mic = dev(
            "MacBook Pro Microphone",
            Transport::BuiltIn,
            Form::Microphone,
        );
        let jack = dev("External Headphones", Transport::BuiltIn, Form::Headphones);
        let p = plan_route(&mic, &jack, false, true, true);
        assert!(!p.cancel_echo);
        assert_eq!(p.notice, None);
        // No canceller at all: headphones still need none.
        assert_eq!(plan_route(&mic, &jack, false, true, false).notice, None);
    }

    #[test]
    fn bluetooth_output_prefers_the_built_in_mic_unless_chosen() {
        let bt_mic = dev("AirPods Pro", Transport::Bluetooth, Form::Headset);
        let bt_out = dev("AirPods Pro", Transport::Bluetooth, Form::Headset);
        let p = plan_route(&bt_mic, &bt_out, false, true, true);
        assert!(p.prefer_built_in_input && !p.cancel_echo);
        assert_eq!(p.notice, None);
        // The person picked the headset's microphone: keep it.
        assert!(!plan_route(&bt_mic, &bt_out, true, true, true).prefer_built_in_input);
        // Already on the built-in microphone: nothing to change.
        let mic = dev(
            "MacBook Pro Microphone",
            Transport::BuiltIn,
            Form::Microphone,
        );
        assert!(!plan_route(&mic, &bt_out, false, true, true).prefer_built_in_input);
        // A Bluetooth speaker in the room still needs the canceller.
        let bt_spk = dev("JBL Flip", Transport::Bluetooth, Form::Speaker);
        let p = plan_route(&mic, &bt_spk, false, true, true);
        assert!(p.cancel_echo);
    }

    #[test]
    fn speakers_without_a_canceller_ask_for_headphones() {
        let mic = dev("Built-in Microphone", Transport::BuiltIn, Form::Microphone);
        let spk = dev("Built-in Output", Transport::BuiltIn, Form::Speaker);
        let unknown = dev("default", Transport::Unknown, Form::Unknown);
        for out in [&spk, &unknown] {
            let p = plan_route(&mic, out, false, true, false);
            assert!(!p.cancel_echo);
            assert_eq!(p.notice, Some(RouteNotice::UseHeadphones));
            // Turned off by the person: the same advice.
            assert_eq!(
                plan_route(&mic, out, false, false, true).notice,
                Some(RouteNotice::UseHeadphones)
            );
        }
    }

    #[test]
    fn pulse_properties_map_to_traits() {
        let props = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
                .collect::<serde_json::Map<_, _>>()
        };
        let bt = props(&[
            ("device.bus", "bluetooth"),
            ("device.form_factor", "headset"),
        ]);
        assert_eq!(
            from_pulse_properties(&bt, None, false),
            (Transport::Bluetooth, Form::Headset)
        );
        let card = props(&[("device.bus", "pci")]);
        assert_eq!(
            from_pulse_properties(&card, Some("analog-output-headphones"), false),
            (Transport::BuiltIn, Form::Headphones)
        );
        assert_eq!(
            from_pulse_properties(&card, Some("analog-output-speaker"), false),
            (Transport::BuiltIn, Form::Speaker)
        );
        let internal = props(&[("device.bus", "pci"), ("device.form_factor", "internal")]);
        assert_eq!(
            from_pulse_properties(&internal, None, true).1,
            Form::Microphone
        );
        let null = props(&[("device.class", "abstract")]);
        assert_eq!(
            from_pulse_properties(&null, None, false),
            (Transport::Virtual, Form::Unknown)
        );
    }

    #[test]
    fn names_fill_in_what_the_platform_did_not_say() {
        let g = |n: &str| {
            DeviceTraits {
                name: n.into(),
                ..Default::default()
            }
            .guess_from_name()
        };
        assert_eq!(g("AirPods Pro").form, Form::Headphones);
        assert_eq!(g("AirPods Pro").transport, Transport::Bluetooth);
        assert_eq!(g("WH-1000XM4 Hands-Free").form, Form::Headset);
        assert_eq!(g("MacBook Air Speakers").form, Form::Speaker);
        assert_eq!(g("MacBook Air Speakers").transport, Transport::BuiltIn);
        assert_eq!(g("USB Audio Device").transport, Transport::Usb);
        assert_eq!(g("default").form, Form::Unknown);
        // What the platform said wins over the name.
        let t = DeviceTraits {
            name: "Speaker Headphones".into(),
            transport: Transport::Usb,
            form: Form::Headset,
        }
        .guess_from_name();
        assert_eq!((t.transport, t.form), (Transport::Usb, Form::Headset));
    }
}
