//! A device as Home Assistant sees it: identity, entities, and when each state goes out.
//! Meters and Modbus devices both publish through this.

use std::collections::BTreeMap;

use super::controls::Control;
use super::throttle::{Policy, Throttle};
use crate::ha::{Category, CommandSpec, DeviceSpec, DiscoveryMode, EntitySpec, Platform};
use crate::message::Message;
use crate::model::{Now, Role};
use crate::quantity::{Kind, Quantity};

/// Diagnostics are bookkeeping, not measurements: publishing them this often is plenty.
const DIAGNOSTIC_INTERVAL_MS: u64 = 30_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSettings {
    /// Topic-safe id from the configuration, e.g. `grid`.
    pub id: String,
    pub name: String,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub role: Role,
    pub policy: Policy,
    pub expire_after_s: u32,
    /// Enable entities of values outside the known tables (they are always published).
    pub enable_unknown: bool,
}

impl DeviceSettings {
    /// A device with the configuration's defaults: published on every change, a heartbeat
    /// every minute, unavailable after three minutes of silence.
    pub fn new(id: &str, name: &str, role: Role) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            manufacturer: None,
            model: None,
            role,
            policy: Policy {
                min_interval_ms: 0,
                heartbeat_ms: 60_000,
            },
            expire_after_s: 180,
            enable_unknown: false,
        }
    }
}

/// One state offered for publishing.
pub struct Offer<'a> {
    pub quantity: &'a Quantity,
    pub payload: String,
    /// For enum sensors: the allowed states.
    pub options: Option<&'a [&'a str]>,
    pub diagnostic: bool,
    /// A JSON object of further attributes.
    pub attributes: Option<String>,
}

impl<'a> Offer<'a> {
    /// A measured value.
    pub fn value(quantity: &'a Quantity, payload: String) -> Self {
        Self {
            quantity,
            payload,
            options: None,
            diagnostic: false,
            attributes: None,
        }
    }

    /// Bookkeeping about the device itself.
    pub fn diagnostic(quantity: &'a Quantity, payload: String) -> Self {
        Self {
            quantity,
            payload,
            options: None,
            diagnostic: true,
            attributes: None,
        }
    }
}

#[derive(Debug)]
struct Entity {
    spec: EntitySpec,
    throttle: Throttle,
    /// The attributes last published, where the entity has them.
    attributes: Option<String>,
}

#[derive(Debug)]
pub struct Device {
    pub settings: DeviceSettings,
    spec: Option<DeviceSpec>,
    entities: BTreeMap<String, Entity>,
    discovery_dirty: bool,
    /// For devices the bridge drives: their availability topic, and whether they answer.
    reach: Option<(String, bool)>,
    /// The config has gone out at least once.
    announced: bool,
    /// A changed config went out: Home Assistant reloads the entities and needs their states
    /// again once it has settled (at this time, once known).
    resend: Resend,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Resend {
    #[default]
    No,
    Due,
    At(u64),
}

impl Device {
    pub fn new(settings: DeviceSettings) -> Self {
        Self {
            settings,
            spec: None,
            entities: BTreeMap::new(),
            discovery_dirty: false,
            reach: None,
            announced: false,
            resend: Resend::No,
        }
    }

    /// Tells whether the device answers, on `<base>/<id>/availability` (retained), so that
    /// Home Assistant shows a plug, wallbox or battery that does not answer as unavailable
    /// instead of with its last values.
    pub fn reachable(&mut self, answers: bool, base: &str, out: &mut Vec<Message>) {
        let topic = format!("{base}/{}/availability", self.settings.id);
        if self.reach.as_ref() == Some(&(topic.clone(), answers)) {
            return;
        }
        if self.reach.is_none() {
            self.discovery_dirty = true; // the configs name the new topic
        }
        out.push(Message::retained(
            topic.clone(),
            availability_payload(answers),
        ));
        self.reach = Some((topic, answers));
    }

    pub fn id(&self) -> &str {
        &self.settings.id
    }

    pub fn spec(&self) -> Option<&DeviceSpec> {
        self.spec.as_ref()
    }

    /// Sets who the device is. A different identity (a meter swapped) starts a new device.
    pub fn identify(&mut self, spec: DeviceSpec) {
        if self.spec.as_ref().is_some_and(|old| old.id != spec.id) {
            self.entities.clear();
        }
        if self.spec.as_ref() != Some(&spec) {
            self.spec = Some(spec);
            self.discovery_dirty = true;
        }
    }

    pub fn offer(&mut self, o: Offer<'_>, base: &str, now: Now, out: &mut Vec<Message>) {
        let key = o.quantity.key.as_ref();
        if !self.entities.contains_key(key) {
            let spec = self.entity_spec(&o, base);
            self.discovery_dirty = true;
            self.entities.insert(
                key.to_string(),
                Entity {
                    spec,
                    throttle: Throttle::default(),
                    attributes: None,
                },
            );
        }
        let Some(entity) = self.entities.get_mut(key) else {
            return;
        };
        if let Some(attributes) = o.attributes {
            let topic = format!("{}/attributes", entity.spec.state_topic);
            if entity.spec.attributes_topic.is_none() {
                entity.spec.attributes_topic = Some(topic.clone());
                self.discovery_dirty = true;
            }
            // Sent when they change; retained, so Home Assistant has them after a restart.
            if entity.attributes.as_ref() != Some(&attributes) {
                out.push(Message::state(topic, attributes.clone()));
                entity.attributes = Some(attributes);
            }
        }
        let policy = policy_for(&entity.spec, self.settings.policy);
        if let Some(p) = entity.throttle.offer(o.payload, now.mono_ms, policy) {
            out.push(Message::state(entity.spec.state_topic.clone(), p));
        }
    }

    /// Publishes a setting's current value, creating its command entity the first time.
    pub fn control(
        &mut self,
        c: &Control,
        payload: String,
        base: &str,
        now: Now,
        out: &mut Vec<Message>,
    ) {
        self.command_entity(c, Some(Category::Config), payload, base, now, out);
    }

    /// Publishes the state of a command entity (a setting, or a device's main switch),
    /// creating the entity the first time.
    pub fn command_entity(
        &mut self,
        c: &Control,
        category: Option<Category>,
        payload: String,
        base: &str,
        now: Now,
        out: &mut Vec<Message>,
    ) {
        self.declare(c, category, base);
        let Some(entity) = self.entities.get_mut(c.key) else {
            return;
        };
        if c.platform == crate::ha::Platform::Button {
            return; // a button has no state
        }
        // Settings are confirmed at once, changed or not.
        let immediate = Policy {
            min_interval_ms: 0,
            heartbeat_ms: 0,
        };
        if let Some(p) = entity.throttle.offer(payload, now.mono_ms, immediate) {
            out.push(Message::state(entity.spec.state_topic.clone(), p));
        }
    }

    /// Creates a command entity without a state yet, so it is announced before the device
    /// behind it has said anything.
    pub fn declare(&mut self, c: &Control, category: Option<Category>, base: &str) {
        if !self.entities.contains_key(c.key) {
            let state_topic = format!("{base}/{}/{}", self.settings.id, c.key);
            let spec = EntitySpec {
                key: c.key.to_string(),
                name: c.name.to_string(),
                platform: c.platform,
                kind: c.kind,
                command: Some(CommandSpec {
                    topic: format!("{state_topic}/set"),
                    range: c.range,
                    max_len: c.max_len,
                }),
                state_topic,
                category,
                enabled_by_default: true,
                options: c.options.map(|o| o.iter().map(|s| s.to_string()).collect()),
                expire_after: None,
                icon: None,
                entity_prefix: format!("stromwart_{}", self.settings.id),
                attributes_topic: None,
            };
            self.discovery_dirty = true;
            self.entities.insert(
                c.key.to_string(),
                Entity {
                    spec,
                    throttle: Throttle::default(),
                    attributes: None,
                },
            );
        }
    }

    /// The state topic of an entity, if it exists.
    pub fn state_topic(&self, key: &str) -> Option<String> {
        self.entities.get(key).map(|e| e.spec.state_topic.clone())
    }

    /// Enables or disables the entities of unknown values in Home Assistant.
    pub fn set_enable_unknown(&mut self, on: bool) {
        if self.settings.enable_unknown == on {
            return;
        }
        self.settings.enable_unknown = on;
        for e in self
            .entities
            .values_mut()
            .filter(|e| e.spec.key.starts_with("obis_"))
        {
            e.spec.enabled_by_default = on;
        }
        self.discovery_dirty = true;
    }

    /// Renames the device in Home Assistant.
    /// Puts the model a device reports in its device block.
    pub fn set_model(&mut self, model: &str) {
        self.settings.model = Some(model.to_string());
        if let Some(spec) = self.spec.as_mut()
            && spec.model.as_deref() != Some(model)
        {
            spec.model = Some(model.to_string());
            self.discovery_dirty = true;
        }
    }

    pub fn rename(&mut self, name: &str) {
        self.settings.name = name.to_string();
        if let Some(spec) = self.spec.as_mut() {
            spec.name = name.to_string();
            self.discovery_dirty = true;
        }
    }

    fn entity_spec(&self, o: &Offer<'_>, base: &str) -> EntitySpec {
        let q = o.quantity;
        EntitySpec {
            key: q.key.to_string(),
            name: entity_name(&self.settings.name, &q.name),
            platform: if q.kind == Kind::Binary {
                Platform::BinarySensor
            } else {
                Platform::Sensor
            },
            kind: q.kind,
            state_topic: format!("{base}/{}/{}", self.settings.id, q.key),
            category: o.diagnostic.then_some(Category::Diagnostic),
            enabled_by_default: q.enabled_by_default || self.settings.enable_unknown,
            options: o
                .options
                .map(|opts| opts.iter().map(|s| s.to_string()).collect()),
            expire_after: (!o.diagnostic).then_some(self.settings.expire_after_s),
            icon: None,
            entity_prefix: format!("stromwart_{}", self.settings.id),
            command: None,
            attributes_topic: o
                .attributes
                .as_ref()
                .map(|_| format!("{base}/{}/{}/attributes", self.settings.id, q.key)),
        }
    }

    /// The discovery messages, if entities or identity changed since the last call.
    pub fn take_discovery(
        &mut self,
        prefix: &str,
        mode: DiscoveryMode,
        availability: &str,
    ) -> Option<Vec<Message>> {
        if !std::mem::take(&mut self.discovery_dirty) {
            return None;
        }
        if std::mem::replace(&mut self.announced, true) {
            self.resend = Resend::Due;
        }
        self.discovery(prefix, mode, availability)
    }

    /// Sends the states again `settle_ms` after a changed config went out: a renamed device's
    /// entities are reloaded by Home Assistant and would stay unavailable until their next
    /// heartbeat otherwise.
    pub fn follow_up(&mut self, now: Now, settle_ms: u64, out: &mut Vec<Message>) {
        match self.resend {
            Resend::No => {}
            Resend::Due => self.resend = Resend::At(now.mono_ms + settle_ms),
            Resend::At(at) if now.mono_ms >= at => {
                self.resend = Resend::No;
                self.republish_states(now, out);
            }
            Resend::At(_) => {}
        }
    }

    pub fn discovery(
        &self,
        prefix: &str,
        mode: DiscoveryMode,
        availability: &str,
    ) -> Option<Vec<Message>> {
        let device = self.spec.as_ref()?;
        if self.entities.is_empty() {
            return None; // a device payload needs at least one component
        }
        let specs: Vec<EntitySpec> = self.entities.values().map(|e| e.spec.clone()).collect();
        let own = self.reach.as_ref().map(|(topic, _)| topic.as_str());
        Some(crate::ha::discovery(
            prefix,
            mode,
            availability,
            own,
            device,
            &specs,
        ))
    }

    /// Every current state, for a full republish after a reconnect or Home Assistant restart.
    pub fn republish_states(&mut self, now: Now, out: &mut Vec<Message>) {
        if let Some((topic, answers)) = &self.reach {
            out.push(Message::retained(
                topic.clone(),
                availability_payload(*answers),
            ));
        }
        for e in self.entities.values_mut() {
            if let Some(p) = e.throttle.current() {
                out.push(Message::state(e.spec.state_topic.clone(), p.to_string()));
            }
            e.throttle.republished(now.mono_ms);
        }
    }

    /// Withdraws the value of every entity not named in `keep`: the retained state is cleared
    /// (an empty retained message), and nothing sends it again, so it expires in Home Assistant
    /// after `expire_after` instead of showing an outdated value as live.
    pub fn withdraw_all_but(&mut self, keep: &[&str], out: &mut Vec<Message>) {
        for (key, e) in &mut self.entities {
            if !keep.contains(&key.as_str()) && e.throttle.clear() {
                out.push(Message::state(e.spec.state_topic.clone(), String::new()));
            }
        }
    }

    /// When the earliest held-back change falls due.
    pub fn next_due(&self) -> Option<u64> {
        self.entities
            .values()
            .filter_map(|e| e.throttle.due_ms(policy_for(&e.spec, self.settings.policy)))
            .min()
    }

    /// Held-back changes whose minimum interval has passed.
    pub fn flush(&mut self, now: Now, out: &mut Vec<Message>) {
        for e in self.entities.values_mut() {
            let policy = policy_for(&e.spec, self.settings.policy);
            if let Some(p) = e.throttle.flush(now.mono_ms, policy) {
                out.push(Message::state(e.spec.state_topic.clone(), p));
            }
        }
    }
}

/// The entity's name without a first word that repeats the device's last: Home Assistant shows
/// "<device> <entity>", and "Home battery Battery power" reads badly ("Home battery Power").
fn entity_name(device: &str, entity: &str) -> String {
    let last = device.split_whitespace().last();
    match (entity.split_once(' '), last) {
        (Some((first, rest)), Some(last)) if first.eq_ignore_ascii_case(last) => {
            let mut chars = rest.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_else(|| entity.to_string())
        }
        _ => entity.to_string(),
    }
}

fn policy_for(spec: &EntitySpec, policy: Policy) -> Policy {
    // A state in words or on/off (grid charging, dimming, storage) changes seldom and is news
    // at once: automations act on it, and pacing would hide a change and its undoing.
    let seldom = matches!(spec.kind, Kind::Text | Kind::Binary);
    let min_interval_ms = if seldom { 0 } else { policy.min_interval_ms };
    match spec.category {
        // Counters and timestamps change with every frame and are paced.
        Some(Category::Diagnostic) => Policy {
            min_interval_ms: if seldom {
                0
            } else {
                policy.min_interval_ms.max(DIAGNOSTIC_INTERVAL_MS)
            },
            heartbeat_ms: policy.heartbeat_ms.max(DIAGNOSTIC_INTERVAL_MS),
        },
        _ => Policy {
            min_interval_ms,
            ..policy
        },
    }
}

/// Who a device the bridge drives is: the same shape for plugs, wallboxes and batteries.
pub struct Driven<'a> {
    /// `plug`, `wallbox`, `battery`: part of the Home Assistant device id.
    pub kind: &'a str,
    pub id: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub policy: Policy,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
}

impl Driven<'_> {
    /// The device, identified as `stromwart_<kind>_<instance>_<id>`. Its values never expire:
    /// whether it answers is its own availability topic's business.
    pub fn device(self, instance: &str) -> Device {
        let mut settings = DeviceSettings::new(self.id, self.name, self.role);
        settings.policy = self.policy;
        settings.expire_after_s = 0;
        let mut device = Device::new(settings);
        device.identify(DeviceSpec {
            id: format!(
                "stromwart_{}_{}_{}",
                self.kind,
                slug(instance),
                slug(self.id)
            ),
            name: self.name.to_string(),
            manufacturer: self.manufacturer,
            model: self.model,
            serial_number: None,
            sw_version: None,
        });
        device
    }
}

/// Text for a unique id: lower case letters, digits and underscores.
pub fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn availability_payload(answers: bool) -> String {
    if answers { "online" } else { "offline" }.to_string()
}

/// New or changed discovery goes out before the states that follow it.
pub(super) fn announce_then(
    device: &mut Device,
    cfg: &super::CoreConfig,
    availability: &str,
    states: Vec<Message>,
    out: &mut Vec<Message>,
) {
    if let Some(d) = device.take_discovery(&cfg.discovery_prefix, cfg.discovery_mode, availability)
    {
        out.extend(d);
    }
    out.extend(states);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(d: &mut Device, key: &str, offers: &[(u64, &str)]) -> Vec<String> {
        let q = crate::quantity::named(key).unwrap();
        let mut out = Vec::new();
        for &(s, value) in offers {
            let now = Now::at_s(s);
            d.offer(Offer::value(q, value.into()), "sw", now, &mut out);
        }
        let topic = format!("sw/site/{key}");
        out.into_iter()
            .filter(|m| m.topic == topic)
            .map(|m| m.payload)
            .collect()
    }

    #[test]
    fn an_on_off_state_goes_out_at_once_however_paced_its_device_is() {
        // The site paces its values to one per 5 s; a switch that changes is news at once.
        let mut site = super::super::site_device::device("home");
        let offers = [(0, "OFF"), (1, "ON"), (2, "OFF"), (3, "ON")];
        assert_eq!(
            published(&mut site, "grid_charging", &offers),
            ["OFF", "ON", "OFF", "ON"]
        );
        // A number is still paced.
        let offers = [(0, "100"), (1, "200"), (2, "300")];
        assert_eq!(published(&mut site, "surplus_power", &offers), ["100"]);
    }
}
