//! One MQTT publish as the core decides it and the MQTT edge sends it.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
    pub qos: u8,
}

impl Message {
    /// Discovery and availability: retained, at least once.
    pub fn retained(topic: String, payload: String) -> Self {
        Self {
            topic,
            payload,
            retain: true,
            qos: 1,
        }
    }

    /// A state value: retained so Home Assistant and openHAB get it on subscribe, QoS 0 because
    /// every reconnect republishes all states anyway.
    pub fn state(topic: String, payload: String) -> Self {
        Self {
            topic,
            payload,
            retain: true,
            qos: 0,
        }
    }
}
