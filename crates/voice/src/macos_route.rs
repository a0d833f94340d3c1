//! macOS: what CoreAudio says about a device, for [`crate::route`]: its transport type
//! (built-in, Bluetooth, USB, …) and, for the built-in output, its data source (internal
//! speakers or headphones in the jack). Type-checked for aarch64-apple-darwin
//! (scripts/check-macos.sh); never run on this project's Linux machine.

use std::ptr::NonNull;

use objc2_core_audio::{
    kAudioDevicePropertyDataSource, kAudioDevicePropertyTransportType,
    kAudioDeviceTransportTypeAggregate, kAudioDeviceTransportTypeAutoAggregate,
    kAudioDeviceTransportTypeBluetooth, kAudioDeviceTransportTypeBluetoothLE,
    kAudioDeviceTransportTypeBuiltIn, kAudioDeviceTransportTypeUSB,
    kAudioDeviceTransportTypeUnknown, kAudioDeviceTransportTypeVirtual,
    kAudioHardwarePropertyTranslateUIDToDevice, kAudioObjectPropertyElementMain,
    kAudioObjectPropertyScopeGlobal, kAudioObjectPropertyScopeOutput, kAudioObjectSystemObject,
    AudioObjectGetPropertyData, AudioObjectID, AudioObjectPropertyAddress,
};
use objc2_core_foundation::CFString;

use crate::route::{Form, Transport};

/// The built-in output's data source when headphones are in the jack ('hdpn').
const DATA_SOURCE_HEADPHONES: u32 = u32::from_be_bytes(*b"hdpn");
/// ... and when it plays on the internal speakers ('ispk').
const DATA_SOURCE_SPEAKERS: u32 = u32::from_be_bytes(*b"ispk");

/// Transport and form of the device whose CoreAudio UID is `uid` (cpal's device id on macOS).
pub fn traits(uid: &str, input: bool) -> Option<(Transport, Form)> {
    let id = device_id(uid)?;
    let transport = match get_u32(
        id,
        kAudioDevicePropertyTransportType,
        kAudioObjectPropertyScopeGlobal,
    )? {
        t if t == kAudioDeviceTransportTypeBuiltIn => Transport::BuiltIn,
        t if t == kAudioDeviceTransportTypeBluetooth
            || t == kAudioDeviceTransportTypeBluetoothLE =>
        {
            Transport::Bluetooth
        }
        t if t == kAudioDeviceTransportTypeUSB => Transport::Usb,
        t if t == kAudioDeviceTransportTypeVirtual
            || t == kAudioDeviceTransportTypeAggregate
            || t == kAudioDeviceTransportTypeAutoAggregate =>
        {
            Transport::Virtual
        }
        t if t == kAudioDeviceTransportTypeUnknown => Transport::Unknown,
        _ => Transport::Other,
    };
    let form = match (transport, input) {
        (Transport::BuiltIn, true) => Form::Microphone,
        (Transport::BuiltIn, false) => {
            match get_u32(
                id,
                kAudioDevicePropertyDataSource,
                kAudioObjectPropertyScopeOutput,
            ) {
                Some(DATA_SOURCE_HEADPHONES) => Form::Headphones,
                Some(DATA_SOURCE_SPEAKERS) => Form::Speaker,
                _ => Form::Unknown,
            }
        }
        _ => Form::Unknown,
    };
    Some((transport, form))
}

/// The AudioDeviceID of the device with this UID.
fn device_id(uid: &str) -> Option<AudioObjectID> {
    let cf = CFString::from_str(uid);
    let cf_ref: *const CFString = &*cf;
    let address = AudioObjectPropertyAddress {
        mSelector: kAudioHardwarePropertyTranslateUIDToDevice,
        mScope: kAudioObjectPropertyScopeGlobal,
        mElement: kAudioObjectPropertyElementMain,
    };
    let mut id: AudioObjectID = 0;
    let mut size = std::mem::size_of::<AudioObjectID>() as u32;
    // SAFETY: the qualifier is a CFStringRef (pointer-sized, kept alive by `cf` for the call)
    // and the property writes one AudioObjectID into `id`, whose size is given.
    let status = unsafe {
        AudioObjectGetPropertyData(
            kAudioObjectSystemObject as AudioObjectID,
            NonNull::from(&address),
            std::mem::size_of::<*const CFString>() as u32,
            (&cf_ref as *const *const CFString).cast(),
            NonNull::from(&mut size),
            NonNull::from(&mut id).cast(),
        )
    };
    (status == 0 && id != 0).then_some(id)
}

/// A UInt32 property of `id`.
fn get_u32(id: AudioObjectID, selector: u32, scope: u32) -> Option<u32> {
    let address = AudioObjectPropertyAddress {
        mSelector: selector,
        mScope: scope,
        mElement: kAudioObjectPropertyElementMain,
    };
    let mut value: u32 = 0;
    let mut size = std::mem::size_of::<u32>() as u32;
    // SAFETY: the property is a UInt32 written into `value`, whose size is given; no qualifier.
    let status = unsafe {
        AudioObjectGetPropertyData(
            id,
            NonNull::from(&address),
            0,
            std::ptr::null(),
            NonNull::from(&mut size),
            NonNull::from(&mut value).cast(),
        )
    };
    (status == 0).then_some(value)
}
