//! Cleaning up discovery configs left on the broker by earlier runs.
//!
//! At start the edge collects the retained configs under the discovery prefix. A config is ours
//! when its availability topic is this bridge's (`<base>/status`): other publishers and other
//! Stromwart instances (other base topics) are never touched. One of ours is stale when its
//! state topic names an id no longer in the config; a device that is merely offline is kept,
//! because clearing its config would delete its entities in Home Assistant. A stale config is
//! cleared only if nothing republished its topic within a grace period: a renamed meter
//! announces itself on the same topic (its identity is its server id) and keeps its entities.
//! Configs in the other discovery mode are migrated: marked with `migrate_discovery` now,
//! cleared once the device has announced itself in the new form.

use std::collections::BTreeMap;

use crate::ha::DiscoveryMode;
use crate::message::Message;

#[derive(Debug, Default)]
pub struct Reconcile {
    /// Old-mode config topics per config id, cleared after the id's new discovery went out.
    pending: BTreeMap<String, Vec<String>>,
    /// Stale configs waiting out the grace period.
    stale: Vec<String>,
    clear_at: Option<u64>,
}

/// What a retained config tells about its owner.
struct Seen<'a> {
    availability: Option<&'a str>,
    /// The config id in `<base>/<id>/<key>` of a state topic.
    id: Option<String>,
}

fn inspect<'a>(payload: &'a serde_json::Value, base: &str) -> Seen<'a> {
    // The bridge's topic comes first, alone or in a list with the device's own.
    let availability = payload["availability_topic"]
        .as_str()
        .or_else(|| payload["availability"][0]["topic"].as_str());
    let state_topic = payload["state_topic"].as_str().or_else(|| {
        payload["components"]
            .as_object()
            .and_then(|c| c.values().find_map(|c| c["state_topic"].as_str()))
    });
    let id = state_topic
        .and_then(|t| t.strip_prefix(base))
        .and_then(|t| t.strip_prefix('/'))
        .and_then(|t| t.split('/').next())
        .map(str::to_string);
    Seen { availability, id }
}

/// What makes a config this bridge's, and what it has now.
pub struct Us<'a> {
    pub base: &'a str,
    pub availability: &'a str,
    pub prefix: &'a str,
    pub mode: DiscoveryMode,
    /// The ids in the current config (and the site view's).
    pub known_ids: &'a [&'a str],
    /// How long a renamed device has to announce itself before its old config counts as stale.
    pub grace_ms: u64,
}

/// The config id a discovery payload belongs to, from its state topics.
pub fn config_id(payload: &str, base: &str) -> Option<String> {
    let json = serde_json::from_str::<serde_json::Value>(payload).ok()?;
    inspect(&json, base).id
}

impl Reconcile {
    /// Decides on the retained configs found at start: clears stale ones at once, marks old-mode
    /// ones for migration.
    pub fn collected(
        &mut self,
        configs: &[(String, String)],
        us: &Us<'_>,
        now_ms: u64,
        out: &mut Vec<Message>,
    ) {
        let Us {
            base,
            availability,
            prefix,
            mode,
            known_ids,
            grace_ms,
        } = *us;
        let device_form = format!("{prefix}/device/");
        for (topic, payload) in configs {
            let Ok(json) = serde_json::from_str::<serde_json::Value>(payload) else {
                continue;
            };
            let seen = inspect(&json, base);
            if seen.availability != Some(availability) {
                continue; // someone else's
            }
            let Some(id) = seen.id else { continue };
            if !known_ids.contains(&id.as_str()) {
                self.stale.push(topic.clone());
                self.clear_at = Some(now_ms + grace_ms);
                continue;
            }
            let in_device_form = topic.starts_with(&device_form);
            let old_form = match mode {
                DiscoveryMode::Device => !in_device_form,
                DiscoveryMode::Component => in_device_form,
            };
            if old_form && json.get("migrate_discovery").is_none() {
                out.push(Message::retained(
                    topic.clone(),
                    r#"{"migrate_discovery":true}"#.into(),
                ));
            }
            if old_form {
                self.pending.entry(id).or_default().push(topic.clone());
            }
        }
    }

    /// Ids with old-form configs waiting for the device's new-form discovery.
    pub fn migrating(&self) -> Vec<String> {
        self.pending.keys().cloned().collect()
    }

    /// A discovery config went out on `topic`: it is not stale.
    pub fn published(&mut self, topic: &str) {
        self.stale.retain(|t| t != topic);
    }

    /// Clears the stale configs nobody claimed once the grace period is over.
    pub fn tick(&mut self, now_ms: u64, out: &mut Vec<Message>) {
        if self.clear_at.is_some_and(|at| now_ms >= at) {
            self.clear_at = None;
            for topic in self.stale.drain(..) {
                tracing::info!(topic = %topic, "Removing a discovery config of a device that is no longer configured.");
                out.push(Message::retained(topic, String::new()));
            }
        }
    }

    /// After the discovery of `id` went out in the new form: clear its old-form configs.
    pub fn announced(&mut self, id: &str, out: &mut Vec<Message>) {
        for topic in self.pending.remove(id).unwrap_or_default() {
            out.push(Message::retained(topic, String::new()));
        }
    }
}
