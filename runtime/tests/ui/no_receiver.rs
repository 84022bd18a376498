use lua_device::lua_device;

struct Greenhouse;

#[lua_device("greenhouse.yaml")]
impl Greenhouse {
    fn read_environment() -> ReadEnvironmentOutput {
        ReadEnvironmentOutput { humidity: 1 }
    }

    fn toggle_irrigation(&mut self, _input: ToggleIrrigationInput) {}
}

fn main() {}
