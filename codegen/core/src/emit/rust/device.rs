//! The device glue: manifest constants, the handler trait, the dispatch adapter onto
//! `lua_device::Dispatch`, trigger senders, the connected handle, the agent-side client, and
//! for `#[lua_device]` the wrapper that turns an impl block into a handler.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

use super::names::DeviceNames;
use super::types::{doc_attrs, type_ident};
use super::Codec;
use super::RustOptions;
use crate::ident;
use crate::model::{Command, Device};

/// How a user's handler method looks, as the proc-macro found it.
#[derive(Clone, Debug)]
pub struct HandlerShape {
    /// The method (named like the command, in snake_case).
    pub method: Ident,
    /// The command it handles.
    pub command: String,
    pub receiver: Receiver,
    pub is_async: bool,
    pub returns: Returns,
    /// Where errors about this handler point.
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receiver {
    /// `&self`: runs concurrently with other `&self` handlers.
    Shared,
    /// `&mut self`: runs alone.
    Exclusive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returns {
    /// Nothing, or `()`.
    Unit,
    /// The output type itself.
    Value,
    /// `Result<T, E>` with `E: Display`.
    Result,
}

pub(super) struct DeviceEmitter<'a> {
    device: &'a Device,
    names: &'a DeviceNames,
    rt: &'a TokenStream,
    agent: bool,
}

impl<'a> DeviceEmitter<'a> {
    pub fn new(device: &'a Device, names: &'a DeviceNames, options: &'a RustOptions) -> Self {
        Self {
            device,
            names,
            rt: &options.runtime,
            agent: options.agent,
        }
    }

    fn input_type(&self, c: &Command) -> Option<Ident> {
        c.input.map(|id| type_ident(&self.names.types, id))
    }

    fn output_type(&self, c: &Command) -> TokenStream {
        match c.output {
            Some(id) => {
                let t = type_ident(&self.names.types, id);
                quote!(#t)
            }
            None => quote!(()),
        }
    }

    fn method(c: &Command) -> Ident {
        format_ident!("{}", ident::rust_snake(&c.name))
    }

    pub fn all(&self) -> TokenStream {
        let parts = (0..Self::PARTS).filter_map(|i| self.part(i));
        quote!(#(#parts)*)
    }

    /// How many parts [`Self::part`] splits [`Self::all`] into.
    pub const PARTS: usize = 4;

    /// Part `i` of [`Self::all`] (the handler trait, the adapter, the trigger senders, the
    /// agent client), for formatting one at a time; `None` for a part this device leaves out.
    pub fn part(&self, i: usize) -> Option<TokenStream> {
        match i {
            0 => Some(self.handler_trait()),
            1 => Some(self.adapter()),
            2 => Some(self.triggers()),
            3 => self.agent.then(|| self.agent_client()),
            _ => None,
        }
    }

    /// The handler trait: one method per command.
    fn handler_trait(&self) -> TokenStream {
        let rt = self.rt;
        let name = &self.names.handler_trait;
        let doc = format!(
            " The commands of `{}`: one method per command in its manifest.",
            self.device.name
        );
        let methods = self.device.commands.iter().map(|c| {
            let method = Self::method(c);
            let docs = doc_attrs(Some(&c.description));
            let out = self.output_type(c);
            let input = self.input_type(c).map(|t| quote!(, input: #t));
            quote! {
                #docs
                fn #method(&self #input) -> impl ::core::future::Future<Output = ::core::result::Result<#out, #rt::CommandError>> + Send;
            }
        });
        quote! {
            #[doc = #doc]
            pub trait #name: Send + Sync + 'static {
                #(#methods)*
            }
        }
    }

    /// The adapter: the device's constants, its builder and the dispatch match.
    fn adapter(&self) -> TokenStream {
        let rt = self.rt;
        let p = quote!(#rt::typed::__private);
        let DeviceNames {
            handler_trait,
            adapter,
            handle,
            triggers,
            ..
        } = self.names;
        let device_name = &self.device.name;
        let group = match &self.device.group {
            Some(g) => quote!(::core::option::Option::Some(#g)),
            None => quote!(::core::option::Option::None),
        };
        let commands_json = Literal::string(&self.device.registration_commands().to_string());
        let arms = self.dispatch_arms(
            Codec::Serde,
            |method, input| quote!(self.0.#method(#input).await?),
        );
        let doc =
            format!(" `{device_name}` on the `lua_device` runtime, driving a [`{handler_trait}`].");
        quote! {
            #[doc = #doc]
            pub struct #adapter<H>(pub H);

            impl<H: #handler_trait> #adapter<H> {
                /// The device name from the manifest.
                pub const NAME: &'static str = #device_name;
                /// The device group from the manifest.
                pub const GROUP: ::core::option::Option<&'static str> = #group;

                pub fn new(handler: H) -> Self {
                    Self(handler)
                }

                /// The command manifest this device registers.
                pub fn command_specs() -> #p::Vec<#rt::CommandSpec> {
                    #p::serde_json::from_str(#commands_json)
                        .expect("luagen generated this command manifest from a validated device")
                }

                /// Read `LUA_AGENT_ID`, `LUA_API_KEY`, `LUA_MQTT_URL`, `LUA_DEVICE_GROUP`.
                pub fn config_from_env() -> ::core::result::Result<#rt::Config, #rt::Error> {
                    #rt::Config::from_env(Self::NAME)
                }

                /// The runtime's builder for this device, to add `trigger_result` callbacks or
                /// take its handle before connecting. The manifest's group applies unless the
                /// configuration sets one.
                pub fn builder(self, mut config: #rt::Config) -> #rt::DeviceBuilder<Self> {
                    if config.group.is_none() {
                        config.group = Self::GROUP.map(::core::convert::Into::into);
                    }
                    #rt::Device::with_dispatcher(config, self)
                }

                /// Connect, subscribe and register.
                pub async fn connect(self, config: #rt::Config) -> ::core::result::Result<#handle, #rt::Error> {
                    self.builder(config).connect().await.map(#handle)
                }
            }

            impl<H: #handler_trait> #rt::Dispatch for #adapter<H> {
                fn commands(&self) -> #p::Vec<#rt::CommandSpec> {
                    Self::command_specs()
                }

                #[allow(unused_variables)]
                async fn dispatch(&self, command: &str, payload: #p::serde_json::Value) -> #rt::CommandResult {
                    match command {
                        #(#arms)*
                        other => ::core::result::Result::Err(#rt::CommandError::unknown(other)),
                    }
                }
            }

            /// A connected device: the runtime's handle plus typed triggers.
            #[derive(Clone)]
            pub struct #handle(pub #rt::DeviceHandle);

            impl #handle {
                /// Typed senders for the manifest's triggers.
                pub fn triggers(&self) -> #triggers<'_> {
                    #triggers(&self.0)
                }
            }

            impl ::core::ops::Deref for #handle {
                type Target = #rt::DeviceHandle;
                fn deref(&self) -> &Self::Target {
                    &self.0
                }
            }
        }
    }

    /// One dispatch arm per command: the input read by `codec` (after its check), the handler
    /// reached by `call(method, input)`, its output written. The host's adapter and the chip's
    /// dispatch both match on these arms; they differ only in how a handler is reached.
    pub(super) fn dispatch_arms(
        &self,
        codec: Codec,
        call: impl Fn(&Ident, Option<TokenStream>) -> TokenStream,
    ) -> Vec<TokenStream> {
        let rt = self.rt;
        let (decode, encode) = match codec {
            Codec::Serde => (quote!(decode), quote!(encode)),
            #[cfg(feature = "firmware")]
            Codec::CoreJson => (quote!(decode_json), quote!(encode_json)),
        };
        self.device
            .commands
            .iter()
            .map(|c| {
                let name = &c.name;
                let input = self
                    .input_type(c)
                    .map(|t| quote!(#rt::typed::#decode::<#t>(payload)?));
                let call = call(&Self::method(c), input);
                match c.output {
                    Some(_) => quote!(#name => #rt::typed::#encode(&#call),),
                    None => quote!(#name => { let () = #call; ::core::result::Result::Ok(::core::option::Option::None) }),
                }
            })
            .collect()
    }

    /// The chip's dispatch (`Codec::CoreJson`): a function over the device's state, each
    /// command's handler a function of `handlers` taking `&mut State` first.
    #[cfg(feature = "firmware")]
    pub fn chip_dispatch(&self, handlers: &TokenStream, state: &TokenStream) -> TokenStream {
        let rt = self.rt;
        let arms = self.dispatch_arms(Codec::CoreJson, |method, input| {
            let input = input.map(|i| quote!(, #i));
            quote!(#handlers::#method(&mut *state.lock().await #input).await?)
        });
        quote! {
            /// Runs `command`: its payload checked and read, its handler run with the device's
            /// state, its result written. Generated with the host's dispatch, from one list of arms.
            #[allow(unused_variables)]
            pub async fn dispatch(state: &#state, command: &str, payload: #rt::value::Value) -> #rt::CommandResult {
                match command {
                    #(#arms)*
                    other => ::core::result::Result::Err(#rt::CommandError::unknown(other)),
                }
            }
        }
    }

    fn triggers(&self) -> TokenStream {
        let rt = self.rt;
        let p = quote!(#rt::typed::__private);
        let name = &self.names.triggers;
        let methods = self.device.triggers.iter().map(|t| {
            let method = format_ident!("{}", ident::rust_snake(&t.name));
            let wire = &t.name;
            let docs = doc_attrs(Some(&t.description));
            match t.payload {
                Some(id) => {
                    let ty = type_ident(&self.names.types, id);
                    quote! {
                        #docs
                        /// The payload is checked against the manifest before it is sent.
                        pub async fn #method(&self, payload: &#ty) -> ::core::result::Result<#rt::message::TriggerAck, #rt::Error> {
                            let value = #rt::typed::encode(payload)
                                .map_err(#rt::Error::InvalidPayload)?
                                .unwrap_or(#p::serde_json::Value::Null);
                            <#ty as #rt::typed::Check>::check(&value, &mut #rt::typed::FieldPath::root())
                                .map_err(#rt::Error::InvalidPayload)?;
                            self.0.trigger(#wire, value).await
                        }
                    }
                }
                None => quote! {
                    #docs
                    pub async fn #method(&self) -> ::core::result::Result<#rt::message::TriggerAck, #rt::Error> {
                        self.0.trigger(#wire, #p::serde_json::Value::Null).await
                    }
                },
            }
        });
        quote! {
            /// Typed senders for the device's triggers; each waits for the gateway's ack.
            pub struct #name<'a>(pub &'a #rt::DeviceHandle);

            impl #name<'_> {
                #(#methods)*
            }
        }
    }

    fn agent_client(&self) -> TokenStream {
        let rt = self.rt;
        let p = quote!(#rt::typed::__private);
        let name = &self.names.agent;
        let methods = self.device.commands.iter().map(|c| {
            let method = Self::method(c);
            let wire = &c.name;
            let docs = doc_attrs(Some(&c.description));
            let timeout = Literal::u64_suffixed(u64::from(c.timeout_ms));
            let attempts = Literal::u32_suffixed(c.retry.map_or(1, |r| r.max_attempts));
            let (param, payload) = match self.input_type(c) {
                Some(t) => (
                    quote!(, input: &#t),
                    quote! {
                        let payload = #rt::typed::encode(input).map_err(#rt::Error::InvalidPayload)?
                            .unwrap_or(#p::serde_json::Value::Null);
                        <#t as #rt::typed::Check>::check(&payload, &mut #rt::typed::FieldPath::root())
                            .map_err(#rt::Error::InvalidPayload)?;
                    },
                ),
                None => (quote!(), quote!(let payload = #p::serde_json::Value::Object(::core::default::Default::default());)),
            };
            let out = self.output_type(c);
            let decode = match c.output {
                Some(_) => quote! {
                    let data = response.data.unwrap_or(#p::serde_json::Value::Null);
                    #p::serde_json::from_value(data).map_err(|e| #rt::Error::UnexpectedResponse(e.to_string()))
                },
                None => quote!(::core::result::Result::Ok(())),
            };
            quote! {
                #docs
                pub async fn #method(&self, device: &str #param) -> ::core::result::Result<#out, #rt::Error> {
                    #payload
                    let response = self.client.call_with_resend(
                        self.agent_id, device, #wire, payload,
                        ::std::time::Duration::from_millis(#timeout), #attempts,
                    ).await?;
                    if !response.success {
                        return ::core::result::Result::Err(#rt::Error::Failed(response.error.unwrap_or_default()));
                    }
                    #decode
                }
            }
        });
        quote! {
            /// The agent's side: call this device's commands with typed payloads, checked
            /// before sending, with the manifest's timeout and retry.
            pub struct #name<'a> {
                client: &'a #rt::agent::AgentClient,
                agent_id: &'a str,
            }

            impl<'a> #name<'a> {
                pub fn new(client: &'a #rt::agent::AgentClient, agent_id: &'a str) -> Self {
                    Self { client, agent_id }
                }
                #(#methods)*
            }
        }
    }

    /// For `#[lua_device]`: a handler over the user's state, calling their methods.
    pub fn impl_glue(&self, state: &Ident, handlers: &[HandlerShape]) -> TokenStream {
        let rt = self.rt;
        let DeviceNames {
            handler_trait,
            adapter,
            handle,
            state_wrapper,
            ..
        } = self.names;
        let methods = self.device.commands.iter().filter_map(|c| {
            let h = handlers.iter().find(|h| h.command == c.name)?;
            let method = Self::method(c);
            let user_method = &h.method;
            let out = self.output_type(c);
            let input_ty = self.input_type(c);
            let (param, arg) = match &input_ty {
                Some(t) => (quote!(, input: #t), quote!(, input)),
                None => (quote!(), quote!()),
            };
            let span = h.span;
            let (guard, receiver) = match h.receiver {
                Receiver::Shared => (quote!(let state = self.0.read().await;), quote!(&*state)),
                Receiver::Exclusive => (quote!(let mut state = self.0.write().await;), quote!(&mut *state)),
            };
            let call = quote_spanned!(span=> #state::#user_method(#receiver #arg));
            let call = if h.is_async { quote_spanned!(span=> #call.await) } else { call };
            let result = match h.returns {
                Returns::Unit => quote_spanned!(span=> { let () = #call; ::core::result::Result::Ok(()) }),
                Returns::Value => quote_spanned!(span=> ::core::result::Result::Ok(#call)),
                Returns::Result => quote_spanned!(span=> #call.map_err(#rt::typed::handler_error)),
            };
            Some(quote! {
                fn #method(&self #param) -> impl ::core::future::Future<Output = ::core::result::Result<#out, #rt::CommandError>> + Send {
                    async move {
                        #guard
                        #result
                    }
                }
            })
        });
        let doc = format!(
            " [`{state}`] behind a lock, as the [`{handler_trait}`] of its `#[lua_device]` impl."
        );
        quote! {
            #[doc = #doc]
            pub struct #state_wrapper(pub #rt::transport::Shared<#state>);

            impl #handler_trait for #state_wrapper {
                #(#methods)*
            }

            impl #state {
                /// The device name from the manifest.
                pub const DEVICE_NAME: &'static str = #adapter::<#state_wrapper>::NAME;

                /// Read `LUA_AGENT_ID`, `LUA_API_KEY`, `LUA_MQTT_URL`, `LUA_DEVICE_GROUP`.
                pub fn config_from_env() -> ::core::result::Result<#rt::Config, #rt::Error> {
                    #adapter::<#state_wrapper>::config_from_env()
                }

                /// The runtime's builder for this device (see the adapter's `builder`).
                pub fn builder(self, config: #rt::Config) -> #rt::DeviceBuilder<#adapter<#state_wrapper>> {
                    #adapter(#state_wrapper(#rt::transport::Shared::new(self))).builder(config)
                }

                /// Connect this device, subscribe and register.
                pub async fn connect(self, config: #rt::Config) -> ::core::result::Result<#handle, #rt::Error> {
                    #adapter(#state_wrapper(#rt::transport::Shared::new(self))).connect(config).await
                }
            }
        }
    }
}
