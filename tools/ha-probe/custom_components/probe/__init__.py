"""Stromwart's probe inside a real Home Assistant: once the bridge's entities have come in over
MQTT discovery, it makes the grid's price entity the Energy dashboard's price, lets Home
Assistant validate the dashboard, and writes the entities and the verdict to probe.json."""

import asyncio
import json

from homeassistant.components.energy import data, validate
from homeassistant.helpers import entity_registry as er

SETTLE_S = 40


async def async_setup(hass, config):
    async def probe():
        await asyncio.sleep(SETTLE_S)
        registry = er.async_get(hass)
        ours = {e.entity_id: e.unique_id for e in registry.entities.values() if e.platform == "mqtt"}
        states = {}
        for entity_id in ours:
            state = hass.states.get(entity_id)
            states[entity_id] = (state.state, dict(state.attributes)) if state else None
        price = next((e for e, u in ours.items() if u.endswith("_price_now")), None)
        energy = next(
            (e for e, s in states.items() if s and s[1].get("device_class") == "energy"), None
        )
        verdict = None
        if price and energy:
            manager = await data.async_get_manager(hass)
            grid = {"stat_energy_from": energy, "stat_cost": None,
                    "entity_energy_price": price, "number_energy_price": None}
            await manager.async_update({"energy_sources": [
                {"type": "grid", "flow_from": [grid], "flow_to": [], "cost_adjustment_day": 0}]})
            verdict = (await validate.async_validate(hass)).as_dict()
        with open(hass.config.path("probe.json"), "w") as out:
            json.dump({"price": price, "energy": energy, "validation": verdict,
                       "entities": states}, out, indent=1, default=str)

    hass.async_create_background_task(probe(), "stromwart probe")
    return True
