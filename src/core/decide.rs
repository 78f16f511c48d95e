//! The controllers' turn: the site view, the PV surplus allocator and §14a decide over the
//! house, and what they decide is carried out: commands on each device's path, states on the
//! entities of the devices they concern, log records in the log.

use super::{Core, ModbusDevice, announce_then, battery, controls, device, plug, wallbox};
use crate::control::{Controller, Decisions, Driven, Level, State};
use crate::message::Message;
use crate::model::{Action, Now};

impl Core {
    /// The controllers decide, and their decisions are carried out on the site's device.
    pub(super) fn decide(&mut self, now: Now, out: &mut Vec<Message>) {
        let mut decisions = self.site.decide(&self.house, now);
        let storage = self.storage_problem.as_deref().unwrap_or("ok");
        decisions
            .diagnostics
            .push(("storage", State::Text(storage.into())));
        // What the price and the surplus ask of the devices.
        let mut wishes = Decisions::default();
        if let Some(view) = &self.prices {
            decisions.extend(view.decide(now));
            if let Some(g) = self.grid_charge.as_mut() {
                wishes.extend(g.decide(view.price_at(now), &self.house));
            }
        }
        if let Some(a) = self.allocator.as_mut() {
            wishes.extend(a.decide(&self.house, now));
            self.sync_plans(now, out);
        }
        if let Some(d) = self.dimmer.as_mut() {
            // §14a wins: a command is kept within the limit, and one the limit forbids
            // (starting a paused wallbox) waits for the dimming to end.
            wishes.actions.retain_mut(|action| match d.clamp(*action) {
                Ok((within, _)) => {
                    *action = within;
                    true
                }
                Err(_) => false,
            });
        }
        decisions.extend(wishes);
        if let Some(d) = self.dimmer.as_mut() {
            decisions.extend(d.decide(&self.house, now));
            if d.dimmed() != self.settings.p14a_dimmed {
                self.settings.p14a_dimmed = d.dimmed();
                self.settings_dirty = true;
            }
            // Saved when a shown figure changes: at most once a minute while dimmed.
            let saved = self.settings.p14a_tally.as_ref().map(|t| t.shown());
            if saved != Some(d.tally().shown()) {
                self.settings.p14a_tally = Some(d.tally().clone());
                self.settings_dirty = true;
            }
            if d.testing() != self.p14a_test_shown {
                self.p14a_test_shown = d.testing();
                if let Some(topic) = self.bridge.state_topic(controls::P14A_TEST.key) {
                    let value = if d.testing() { "ON" } else { "OFF" };
                    out.push(Message::state(topic, value.into()));
                }
            }
        }
        let shown = std::mem::take(&mut decisions.shown);
        self.show(shown, now, out);
        let actions = std::mem::take(&mut decisions.actions);
        self.carry_out_actions(actions, out);
        let mut states = Vec::new();
        let base = self.cfg.base_topic.as_str();
        carry_out(
            decisions,
            &mut self.site_device,
            &mut self.actions,
            base,
            now,
            &mut states,
        );
        announce_then(
            &mut self.site_device,
            &self.cfg,
            &self.availability,
            states,
            out,
        );
    }

    /// Controllers' states for the entities of the devices they drive.
    fn show(
        &mut self,
        shown: Vec<(Driven, &'static str, State)>,
        now: Now,
        out: &mut Vec<Message>,
    ) {
        let base = self.cfg.base_topic.clone();
        for (driven, key, state) in shown {
            let Some(q) = crate::quantity::named(key) else {
                continue;
            };
            let cfg = &self.cfg;
            let availability = &self.availability;
            let lists = (
                &mut self.plugs,
                &mut self.wallboxes,
                &mut self.batteries,
                &mut self.devices,
            );
            let device = device_in(lists, driven);
            let Some(device) = device else {
                continue;
            };
            let mut states = Vec::new();
            device.offer(
                device::Offer::value(q, payload(q, state)),
                &base,
                now,
                &mut states,
            );
            announce_then(device, cfg, availability, states, out);
        }
    }

    /// The device of Stromwart's a controller addresses.
    pub(super) fn driven_device(&mut self, driven: Driven) -> Option<&mut device::Device> {
        let lists = (
            &mut self.plugs,
            &mut self.wallboxes,
            &mut self.batteries,
            &mut self.devices,
        );
        device_in(lists, driven)
    }

    /// Its id, as in its topics.
    pub(super) fn driven_id(&self, driven: Driven) -> Option<&str> {
        match driven {
            Driven::Plug(i) => self.plugs.get(i).map(|p| p.device.id()),
            Driven::Wallbox(i) => self.wallboxes.get(i).map(|w| w.device.id()),
            Driven::Battery(i) => self.batteries.get(i).map(|b| b.device.id()),
            Driven::Device(i) => self.devices.get(i).map(|d| d.device.id()),
        }
    }
}

/// Carries out a controller's decisions: its commands go to the device tasks, its states to the
/// entities of its device, its records to the log. An entity the decisions leave out has no
/// value now; it is withdrawn rather than left showing its last one.
fn carry_out(
    decisions: Decisions,
    device: &mut device::Device,
    actions: &mut Vec<Action>,
    base: &str,
    now: Now,
    out: &mut Vec<Message>,
) {
    actions.extend(decisions.actions);
    let decided: Vec<&str> = decisions
        .states
        .iter()
        .chain(&decisions.diagnostics)
        .map(|(k, _)| *k)
        .collect();
    device.withdraw_all_but(&decided, out);
    let mut attributes = decisions.attributes;
    for (key, state) in decisions.states {
        if let Some(q) = crate::quantity::named(key) {
            let mut offer = device::Offer::value(q, payload(q, state));
            if let Some(i) = attributes.iter().position(|(k, _)| *k == key) {
                offer.attributes = Some(attributes.swap_remove(i).1);
            }
            device.offer(offer, base, now, out);
        }
    }
    for (key, state) in decisions.diagnostics {
        if let Some(q) = crate::quantity::named(key) {
            device.offer(
                device::Offer::diagnostic(q, payload(q, state)),
                base,
                now,
                out,
            );
        }
    }
    for r in decisions.log {
        match r.level {
            Level::Info => tracing::info!(device = %device.id(), "{}", r.message),
            Level::Warn => tracing::warn!(device = %device.id(), "{}", r.message),
        }
    }
}

type Lists<'a> = (
    &'a mut Vec<plug::Plug>,
    &'a mut Vec<wallbox::WallboxCore>,
    &'a mut Vec<battery::BatteryCore>,
    &'a mut Vec<ModbusDevice>,
);

/// The device a controller addresses, among the core's lists (taken apart, so that the rest of
/// the core stays borrowable).
fn device_in(lists: Lists<'_>, driven: Driven) -> Option<&mut device::Device> {
    let (plugs, wallboxes, batteries, devices) = lists;
    match driven {
        Driven::Plug(i) => plugs.get_mut(i).map(|p| &mut p.device),
        Driven::Wallbox(i) => wallboxes.get_mut(i).map(|w| &mut w.device),
        Driven::Battery(i) => batteries.get_mut(i).map(|b| &mut b.device),
        Driven::Device(i) => devices.get_mut(i).map(|d| &mut d.device),
    }
}

/// A decided state as its entity shows it.
fn payload(q: &crate::quantity::Quantity, state: State) -> String {
    use crate::quantity::Kind;
    match state {
        // Energies to the Wh, the rest to one decimal: sums of floats would otherwise print
        // noise digits.
        State::Number(v) if q.kind == Kind::Energy => format!("{}", (v * 1000.0).round() / 1000.0),
        State::Number(v) if q.kind == Kind::Money => format!("{v:.2}"),
        State::Number(v) if q.kind == Kind::Price => {
            format!("{}", (v * 10_000.0).round() / 10_000.0)
        }
        State::Number(v) => format!("{}", (v * 10.0).round() / 10.0),
        State::Switch(on) => if on { "ON" } else { "OFF" }.to_string(),
        State::Text(text) => text,
    }
}
