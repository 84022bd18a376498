use lua_device::lua_device;

struct Greenhouse;

#[lua_device("greenhouse.yaml")]
impl Greenhouse {
    async fn read_environment(&self) -> Result<String, std::fmt::Error> {
        Ok("50%".into())
    }

    fn toggle_irrigation(&mut self, _input: ToggleIrrigationInput) -> bool {
        true
    }
}

fn main() {}
