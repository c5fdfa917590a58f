// Names, icons and descriptions of the sign-in methods.

export const METHODS = {
  webauthn: {
    label: "Security key or passkey",
    icon: "key",
    description: "Touch a hardware key or confirm with a passkey on your phone or computer.",
    loginLabel: "Use a security key or passkey",
  },
  totp: {
    label: "Authenticator app",
    icon: "app",
    description: "Enter a 6-digit code from an app such as Google Authenticator or 1Password.",
    loginLabel: "Enter a code from your authenticator app",
  },
  push: {
    label: "Push notification",
    icon: "push",
    description: "Approve sign-ins on your phone with the Latchkey app by typing a number.",
    loginLabel: "Get a push notification",
  },
  recovery_code: {
    label: "Recovery code",
    icon: "recovery",
    description: "Use one of the codes you saved when you set up two-step verification.",
    loginLabel: "Use a recovery code",
  },
};

export function methodLabel(type) {
  return (METHODS[type] && METHODS[type].label) || "Device";
}

export function methodIcon(type) {
  return (METHODS[type] && METHODS[type].icon) || "info";
}
