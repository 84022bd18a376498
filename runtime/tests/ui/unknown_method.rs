use lua_device::lua_device;

struct Greenhouse;

#[lua_device("greenhouse.yaml")]
impl Greenhouse {
    async fn read_environment(&self) -> ReadEnvironmentOutput {
        ReadEnvironmentOutput { humidity: 50 }
    }

    async fn toggle_irigation(&mut self, input: ToggleIrrigationInput) {
        let _ = input;
    }
}

fn main() {}
