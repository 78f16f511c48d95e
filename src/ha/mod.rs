//! Home Assistant MQTT discovery payloads, as typed structs rendered from entity specs.
//!
//! The core describes what exists ([`DeviceSpec`], [`EntitySpec`]); this module decides how it
//! looks on the wire, in device-based form (one retained config per device, Home Assistant
//! 2024.12 and later) or per-component form (one config per entity, for openHAB).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::message::Message;
use crate::quantity::Kind;

pub const ORIGIN_NAME: &str = "Stromwart";
pub const SUPPORT_URL: &str = "https://github.com/stromwart/stromwart";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiscoveryMode {
    #[default]
    Device,
    Component,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Sensor,
    BinarySensor,
    Switch,
    Number,
    Select,
    Button,
    Text,
}

impl Platform {
    pub const ALL: [Platform; 7] = [
        Platform::Sensor,
        Platform::BinarySensor,
        Platform::Switch,
        Platform::Number,
        Platform::Select,
        Platform::Button,
        Platform::Text,
    ];

    pub fn domain(self) -> &'static str {
        match self {
            Platform::Sensor => "sensor",
            Platform::BinarySensor => "binary_sensor",
            Platform::Switch => "switch",
            Platform::Number => "number",
            Platform::Select => "select",
            Platform::Button => "button",
            Platform::Text => "text",
        }
    }

    /// Entities that only show a state (the others take commands).
    pub fn is_readonly(self) -> bool {
        matches!(self, Platform::Sensor | Platform::BinarySensor)
    }
}

/// How a command entity is changed: its topic and the values it accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSpec {
    pub topic: String,
    /// Numbers: (min, max, step).
    pub range: Option<(f64, f64, f64)>,
    /// Texts: the longest accepted.
    pub max_len: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Diagnostic,
    Config,
}

/// A Home Assistant device: a meter, an inverter, or the bridge itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    /// Stable id for topics and unique ids, e.g. `stromwart_0a01445a47000282225e`.
    pub id: String,
    pub name: String,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub sw_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EntitySpec {
    /// Unique within the device; becomes part of the unique id.
    pub key: String,
    pub name: String,
    pub platform: Platform,
    pub kind: Kind,
    pub state_topic: String,
    pub category: Option<Category>,
    pub enabled_by_default: bool,
    /// For enum sensors: the allowed states.
    pub options: Option<Vec<String>>,
    pub expire_after: Option<u32>,
    pub icon: Option<&'static str>,
    /// Prefix of the suggested entity id (without domain), e.g. `stromwart_grid`.
    pub entity_prefix: String,
    pub command: Option<CommandSpec>,
    /// Where a JSON object of further attributes is published (a price schedule).
    pub attributes_topic: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Device<'a> {
    pub identifiers: [&'a str; 1],
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sw_version: Option<&'a str>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Origin {
    pub name: &'static str,
    pub sw_version: &'static str,
    pub support_url: &'static str,
}

pub const ORIGIN: Origin = Origin {
    name: ORIGIN_NAME,
    sw_version: env!("CARGO_PKG_VERSION"),
    support_url: SUPPORT_URL,
};

/// One entity's configuration. Key names are the long forms, which both Home Assistant and
/// openHAB read; the payload size limit is raised at the MQTT edge instead.
#[derive(Debug, Serialize, PartialEq)]
pub struct Component<'a> {
    pub platform: Platform,
    pub unique_id: String,
    /// Home Assistant 2025.10 and later read `default_entity_id`, older ones `object_id`.
    pub default_entity_id: String,
    pub object_id: String,
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_topic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_topic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_class: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_class: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_of_measurement: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_display_precision: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_category: Option<Category>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled_by_default: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_after: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_attributes_topic: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct DevicePayload<'a> {
    device: Device<'a>,
    origin: &'a Origin,
    #[serde(flatten)]
    availability: Availability<'a>,
    components: BTreeMap<&'a str, Component<'a>>,
}

#[derive(Debug, Serialize)]
struct ComponentPayload<'a> {
    #[serde(flatten)]
    component: Component<'a>,
    device: Device<'a>,
    origin: &'a Origin,
    #[serde(flatten)]
    availability: Availability<'a>,
}

/// When the entities are available: while the bridge is, and for devices the bridge drives,
/// also while that device answers.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
enum Availability<'a> {
    Bridge {
        availability_topic: &'a str,
    },
    BridgeAndDevice {
        availability: [Topic<'a>; 2],
        availability_mode: &'static str,
    },
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Topic<'a> {
    topic: &'a str,
}

impl<'a> Availability<'a> {
    fn new(bridge: &'a str, device: Option<&'a str>) -> Self {
        match device {
            None => Self::Bridge {
                availability_topic: bridge,
            },
            Some(device) => Self::BridgeAndDevice {
                availability: [Topic { topic: bridge }, Topic { topic: device }],
                availability_mode: "all",
            },
        }
    }
}

pub fn device<'a>(d: &'a DeviceSpec) -> Device<'a> {
    Device {
        identifiers: [&d.id],
        name: &d.name,
        manufacturer: d.manufacturer.as_deref(),
        model: d.model.as_deref(),
        serial_number: d.serial_number.as_deref(),
        sw_version: d.sw_version.as_deref(),
    }
}

pub fn component<'a>(d: &DeviceSpec, e: &'a EntitySpec) -> Component<'a> {
    let info = e.kind.info();
    let object_id = format!("{}_{}", e.entity_prefix, e.key);
    let sensor = e.platform == Platform::Sensor;
    // Enum sensors take no unit or state class (Home Assistant rejects them together).
    let is_enum = sensor && e.options.is_some();
    let measured = sensor && !is_enum;
    let command = e.command.as_ref();
    let range = command.and_then(|c| c.range);
    Component {
        platform: e.platform,
        unique_id: format!("{}_{}", d.id, e.key),
        default_entity_id: format!("{}.{object_id}", e.platform.domain()),
        object_id,
        name: &e.name,
        state_topic: (e.platform != Platform::Button).then_some(e.state_topic.as_str()),
        command_topic: command.map(|c| c.topic.as_str()),
        // A text entity has a length limit; the core refuses an empty text.
        min: range
            .map(|r| r.0)
            .or(command.and_then(|c| c.max_len).map(|_| 1.0)),
        max: range
            .map(|r| r.1)
            .or(command.and_then(|c| c.max_len).map(f64::from)),
        step: range.map(|r| r.2),
        mode: (e.platform == Platform::Number).then_some("box"),
        device_class: if is_enum {
            Some("enum")
        } else if e.platform == Platform::Select {
            None
        } else {
            info.device_class
        },
        state_class: if measured { info.state_class } else { None },
        unit_of_measurement: if measured || e.platform == Platform::Number {
            info.unit
        } else {
            None
        },
        suggested_display_precision: if measured { info.precision } else { None },
        entity_category: e.category,
        enabled_by_default: (!e.enabled_by_default).then_some(false),
        options: e.options.as_deref(),
        expire_after: if e.platform.is_readonly() {
            e.expire_after
        } else {
            None
        },
        icon: e.icon,
        json_attributes_topic: e.attributes_topic.as_deref(),
    }
}

/// Topic of the device-based config of `device`.
pub fn device_topic(prefix: &str, device: &DeviceSpec) -> String {
    format!("{prefix}/device/{}/config", device.id)
}

/// Topic of one entity's config in per-component mode.
pub fn component_topic(prefix: &str, device: &DeviceSpec, e: &EntitySpec) -> String {
    format!(
        "{prefix}/{}/{}/{}/config",
        e.platform.domain(),
        device.id,
        e.key
    )
}

/// The retained discovery messages for a device and its entities. `device_availability`: the
/// topic where a device the bridge drives says whether it answers.
pub fn discovery(
    prefix: &str,
    mode: DiscoveryMode,
    availability_topic: &str,
    device_availability: Option<&str>,
    d: &DeviceSpec,
    entities: &[EntitySpec],
) -> Vec<Message> {
    let availability = Availability::new(availability_topic, device_availability);
    match mode {
        DiscoveryMode::Device => {
            let payload = DevicePayload {
                device: device(d),
                origin: &ORIGIN,
                availability,
                components: entities
                    .iter()
                    .map(|e| (e.key.as_str(), component(d, e)))
                    .collect(),
            };
            vec![Message::retained(
                device_topic(prefix, d),
                to_json(&payload),
            )]
        }
        DiscoveryMode::Component => entities
            .iter()
            .map(|e| {
                let payload = ComponentPayload {
                    component: component(d, e),
                    device: device(d),
                    origin: &ORIGIN,
                    availability,
                };
                Message::retained(component_topic(prefix, d, e), to_json(&payload))
            })
            .collect(),
    }
}

fn to_json(value: &impl Serialize) -> String {
    // Serialising these plain structs cannot fail: all keys are strings, no maps with other keys.
    serde_json::to_string(value).unwrap_or_default()
}
