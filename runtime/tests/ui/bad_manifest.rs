use lua_device::lua_device;

struct Greenhouse;

#[lua_device("broken.yaml")]
impl Greenhouse {
    async fn toggle_irrigation(&mut self, _input: ToggleIrrigationInput) {}
}

fn main() {}
