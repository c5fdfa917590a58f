//! Each operation of the API reference: its name, tag, prose, request body and the errors
//! it answers beyond the ones every route of its kind answers (those follow from its
//! method and its policy, in `generic_failures`). The request and answer schemas come
//! from the endpoint's types: `op::<E>` takes `E::Output`, `.body::<T>()` takes a type the
//! endpoint's `Input` carries (checked by the compiler).
//!
//! A new route: derive `utoipa::ToSchema` on its request and answer types, and add its
//! arm below (the match is exhaustive, so a new `Operation` does not compile without one).

use super::{dedent, map, reference, Failure, Schemas};
use latchkey::auth;
use latchkey::endpoints as e;
use latchkey::http::ClientInfo;
use latchkey::ops::{accounts, login, mfa, push, sudo, totp, webauthn};
use latchkey::schema;
use latchkey::{Endpoint, Error, Operation};
use serde_yaml::Value;
use std::marker::PhantomData;
use utoipa::ToSchema;

const OPTIONAL: &str = "Optional; may be absent (x-latchkey-decision).";

pub fn doc(operation: Operation) -> Doc {
    use failures as f;
    use Operation as Op;
    match operation {
        Op::CreateAccount => op::<e::CreateAccount>(
            "createAccount",
            "accounts",
            "Create an account",
            "Created.",
        )
        .body::<auth::Credentials>()
        .describe(r#"
            MFA starts enabled with no devices, so the first login answers
            `mfa_setup_required`. The username is checked before the password.
        "#)
        .fails(Failure::new(vec![Error::InvalidUsername, Error::WeakPassword("x")], r#"
`invalid_username`: not 3-64 characters of `a-z 0-9 . _ - @ +` (after
lower-casing). `weak_password`: not 8-256 characters, or equal to the username
(ignoring case).
"#))
        .fails(Failure::new(vec![Error::UsernameTaken], "`username_taken`: an account with this (lower-cased) username exists."))
        .doc(),
        Op::Login => op::<e::Login>(
            "login",
            "login",
            "Sign in with username and password (first step)",
            "The password was right.",
        )
        .body_as::<schema::LoginRequest>()
        .describe(r#"
            Answers one of three shapes, told apart by `status`:
            - `authenticated` with a `full` session, when the user opted out of MFA;
            - `mfa_required` with an `mfa_token` (5 minutes, 5 wrong second factors, spent by
              a success) and the `methods` the user can use now;
            - `mfa_setup_required` with a `setup` session, when MFA is on and no device is
              registered.

            Wrong password and unknown user both answer `401 invalid_credentials`, in the same
            time (verified against a dummy hash). After 10 consecutive failures the account is
            locked for 15 minutes: `429 too_many_attempts`, even with the right password.
        "#)
        .decision(r#"
            A username that cannot exist (fails the sign-up rule) is not `400`: it is looked
            up as unknown and answered `401 invalid_credentials` after a dummy hash. A locked
            account is answered `429` before the password is checked.
        "#)
        .fails(Failure::new(vec![Error::InvalidCredentials], "`invalid_credentials`: wrong password or unknown user (indistinguishable)."))
        .fails(f::account_locked())
        .doc(),
        Op::LoginTotp => op::<e::LoginTotp>(
            "loginTotp",
            "login",
            "Second factor, authenticator app code",
            "Signed in with a `full` session; the mfa_token is spent.",
        )
        .body::<login::CodeRequest>()
        .describe(r#"
            A 6-digit code (SHA-1, 30 s, one step of skew either way). A code already accepted
            for this device (same or earlier time step) is refused. A wrong code counts against
            the mfa_token and the account lock.
        "#)
        .decision(r#"
            Surrounding whitespace around the code is ignored; a code that is not 6 digits is
            a wrong code (`401 invalid_code`), not `400`. The code that confirmed the TOTP
            registration is remembered, so it cannot be replayed for the first login. A user
            with no TOTP device gets `409 method_not_registered` (not counted as a failure).
        "#)
        .fails(f::invalid_mfa_token())
        .fails(Failure::new(vec![Error::InvalidCode], "`invalid_code`: wrong or replayed code."))
        .fails(f::method_not_registered())
        .fails(f::account_locked())
        .doc(),
        Op::LoginRecoveryCode => op::<e::LoginRecoveryCode>(
            "loginRecoveryCode",
            "login",
            "Second factor, recovery code",
            "Signed in; the code is spent.",
        )
        .body::<login::CodeRequest>()
        .describe(r#"
            Case, spaces and hyphens are ignored; each code works once, also under concurrent
            attempts. The answer adds `recovery_codes_remaining`. A wrong code counts against
            the mfa_token and the account lock.
        "#)
        .decision(r#"
            Codes use Crockford's base32 alphabet in lower case; input also reads `o` as `0`
            and `i`/`l` as `1`. A user without unused codes gets `401 invalid_code` (counted),
            not `409`.
        "#)
        .fails(f::invalid_mfa_token())
        .fails(Failure::new(vec![Error::InvalidCode], "`invalid_code`: no unused code matches."))
        .fails(f::account_locked())
        .doc(),
        Op::LoginWebauthnStart => op::<e::LoginWebauthnStart>(
            "loginWebauthnStart",
            "login",
            "Second factor, security key or passkey, start",
            "Request options for `navigator.credentials.get()`.",
        )
        .body::<webauthn::StartLoginRequest>()
        .describe(r#"
            Answers `{"publicKey": {...}}`, a `PublicKeyCredentialRequestOptions` in WebAuthn
            JSON (binary fields base64url), for the user's registered credentials.
        "#)
        .decision(r#"
            A new start replaces the login's earlier challenge. User verification is required
            (`userVerification: "required"`). A user with no WebAuthn device gets `409
            method_not_registered`.
        "#)
        .fails(f::invalid_mfa_token())
        .fails(f::method_not_registered())
        .fails(f::account_locked())
        .doc(),
        Op::LoginWebauthnFinish => op::<e::LoginWebauthnFinish>(
            "loginWebauthnFinish",
            "login",
            "Second factor, security key or passkey, finish",
            "Signed in with a `full` session; the mfa_token is spent.",
        )
        .body::<webauthn::FinishLoginRequest>()
        .describe(r#"
            Takes the `PublicKeyCredential` that `navigator.credentials.get()` produced, as
            JSON with base64url binary fields.
        "#)
        .decision(r#"
            A finish that fails for any reason (bad or replayed assertion, no challenge started,
            a user handle that is not the user's, a key removed since the start) is `401
            invalid_credentials`, counts as a wrong second factor and spends the challenge:
            call start again. A signature counter that did not advance marks the device
            `"warning": "possible_clone"` (event `second_factor_failed`, detail
            `possible_clone`), and that device is refused the same way until the user removes
            it. A `credential` that is not shaped like a PublicKeyCredential is `400
            invalid_request`; extra members inside it are ignored.
        "#)
        .fails(f::invalid_mfa_token())
        .fails(Failure::new(vec![Error::InvalidCredentials], "`invalid_credentials`: the assertion was refused (see the decision above)."))
        .fails(f::account_locked())
        .doc(),
        Op::LoginPush => op::<e::LoginPush>(
            "loginPush",
            "login",
            "Second factor, push with number matching, send",
            "The push was published.",
        )
        .body::<push::LoginPushRequest>()
        .describe(r#"
            Sends a push to the user's push device (see the `loginPush` webhook). `number`, a
            string of random digits (6 by default; 2 to 8 by `LATCHKEY_PUSH_DIGITS`), is shown
            in the browser and must be typed on the device: no approve-only pushes. At most 3
            pushes per mfa_token and 10 per account per 15 minutes. A push expires after 120 s
            (`LATCHKEY_PUSH_TTL_SECONDS`). Poll `POST /v1/login/push/status` for the outcome.
        "#)
        .decision(r#"
            Checks in this order: the mfa_token (401), the account lock (429), a push device
            (409 method_not_registered), then the two push limits (429). For the per-login
            limit `Retry-After` is the seconds until the mfa_token expires; for the per-account
            limit, until the oldest push of the window ages out. When SNS refuses the publish
            the answer is `503 unavailable`, the push can never be answered (its status reads
            `expired`) and both limit counters get their unit back.
        "#)
        .fails(f::invalid_mfa_token())
        .fails(f::method_not_registered())
        .fails(Failure::new(vec![Error::TooManyAttempts { retry_after_secs: 1 }], r#"
`too_many_attempts`: the account is locked, or 3 pushes were already sent for
this mfa_token, or 10 for this account within 15 minutes.
"#))
        .doc(),
        Op::LoginPushStatus => op::<e::LoginPushStatus>(
            "loginPushStatus",
            "login",
            "Second factor, push, poll the outcome",
            "The push's state, or the session once approved.",
        )
        .body::<push::StatusRequest>()
        .describe(r#"
            Answers `{"status": "pending" | "denied" | "expired"}`, or the authenticated answer
            once approved. The authenticated answer is handed out once: the mfa_token is then
            spent, and a later poll is `401 invalid_mfa_token`.
        "#)
        .decision(r#"
            A `push_id` that is unknown or belongs to another login is `404 not_found`. A push
            approved by a device that was removed since reads `expired`, as does one whose
            publish failed. A denial (or an approval with the wrong number) leaves the
            mfa_token usable for another factor or another push.
        "#)
        .fails(f::invalid_mfa_token())
        .fails(f::not_found())
        .fails(f::account_locked())
        .doc(),
        Op::LoginPasskeyStart => op::<e::LoginPasskeyStart>(
            "loginPasskeyStart",
            "login",
            "Sign in with a passkey alone, start",
            "Request options for `navigator.credentials.get()`, and the sign-in's id.",
        )
        .no_body()
        .describe(r#"
            For a passkey sign-in with no password and no username: `publicKey` is a
            `PublicKeyCredentialRequestOptions` without `allowCredentials` (the authenticator
            offers its discoverable credentials) and with `userVerification: "required"`,
            usable with conditional mediation (browser autofill). `login_id` lives 5 minutes
            and is used once.
        "#)
        .decision(r#"
            One write and no read: nobody is known yet. A page may start one when the sign-in
            form opens, for autofill, and abort it before a modal request.
        "#)
        .doc(),
        Op::LoginPasskeyFinish => op::<e::LoginPasskeyFinish>(
            "loginPasskeyFinish",
            "login",
            "Sign in with a passkey alone, finish",
            "Signed in with a `full` session.",
        )
        .body::<webauthn::FinishPasskeyLoginRequest>()
        .describe(r#"
            Takes the `PublicKeyCredential` that `navigator.credentials.get()` produced, as
            JSON with base64url binary fields; `credential.response.userHandle` names the
            account (the `user.id` of its registration options). A passkey with user
            verification proves two factors, so an account that opted out of MFA signs in
            with it too.
        "#)
        .decision(r#"
            Every finish spends its `login_id`, whatever its outcome: start again after a
            refusal. A user handle that names no account is refused without counting on any.
            A signature counter that did not advance marks the device `possible_clone` and
            refuses it, as for the second factor.
        "#)
        .fails(Failure::new(vec![Error::InvalidCredentials], "`invalid_credentials`: unknown credential, bad or replayed signature, no user verification, or a spent, expired or unknown `login_id`; counted toward the owner's lock when the account is known."))
        .fails(f::account_locked())
        .doc(),
        Op::ListSessions => op::<e::ListSessions>(
            "listSessions",
            "session",
            "Where you are signed in",
            "The account's live sessions, newest first.",
        )
        .describe(r#"
            Live sessions only: not expired, not idle past the idle timeout, not ended by a
            password change or "sign out everywhere else". `current` marks the caller's.
            Needs a `full` session.
        "#)
        .decision(r#"
            `last_seen_at` is written at most every 5 minutes, so it may lag by up to 5
            minutes, and an idle session ends 55-60 minutes after its last request.
        "#)
        .doc(),
        Op::RevokeSession => op_empty::<e::RevokeSession>(
            "revokeSession",
            "session",
            "Sign out one session",
            "Signed out.",
        )
        .no_body()
        .describe(r#"
            Revokes the session at once; it may be the caller's own. An unknown id, or another
            account's, is `404 not_found`. Needs a `full` session. Event `session_revoked`.
        "#)
        .fails(f::not_found())
        .doc(),
        Op::RevokeOtherSessions => op::<e::RevokeOtherSessions>(
            "revokeOtherSessions",
            "session",
            "Sign out everywhere else",
            "How many sessions were revoked.",
        )
        .no_body()
        .describe(r#"
            Revokes every session of the account but the caller's, at once, including second
            factors in progress. Needs a `full` session. Event `session_revoked`.
        "#)
        .doc(),
        Op::ChangePassword => op::<e::ChangePassword>(
            "changePassword",
            "session",
            "Change the password",
            "Changed; every other session of the account is revoked.",
        )
        .body::<accounts::PasswordChange>()
        .describe(r#"
            A wrong `current_password` is `401 invalid_credentials` and counts toward the
            lock, as at login; a locked account is `429`. `new_password` follows the sign-up
            rules and must differ from the current one. Needs a `full` session; the caller's
            session stays. Event `password_changed`.
        "#)
        .decision(r#"
            The new password's rules are checked before the current password is judged, so a
            weak one costs no attempt.
        "#)
        .fails(Failure::new(vec![Error::InvalidCredentials], "`invalid_credentials`: the `current_password` is wrong (counts toward the account lock)."))
        .fails(Failure::new(vec![Error::WeakPassword("x")], "`weak_password`: `new_password` is not 8-256 characters, or equals the username (ignoring case)."))
        .fails(Failure::new(vec![Error::SamePassword], "`same_password`: `new_password` is the current password."))
        .fails(f::account_locked())
        .doc(),
        Op::Logout => op_empty::<e::Logout>(
            "logout",
            "session",
            "Sign out",
            "Signed out.",
        )
        .no_body()
        .describe(r#"
            The token is revoked at once. Allowed to `setup` and `full` sessions.
        "#)
        .decision(r#"
            The request may have no body, or `{}`; anything else is `400 invalid_request`.
        "#)
        .doc(),
        Op::Me => op::<e::Me>(
            "me",
            "session",
            "Who is signed in",
            "The caller.",
        )
        .describe(r#"
            Allowed to `setup` and `full` sessions.
        "#)
        .doc(),
        Op::GetMfa => op::<e::GetMfa>(
            "getMfa",
            "settings",
            "MFA settings, devices and methods",
            "The settings.",
        )
        .describe(r#"
            Allowed to `setup` and `full` sessions. The registration page polls this until a
            push device appears.
        "#)
        .doc(),
        Op::Reauthenticate => op::<e::Reauthenticate>(
            "reauthenticate",
            "session",
            "Confirm the password again (re-authenticate the session)",
            "The session is re-authenticated.",
        )
        .body::<sudo::PasswordRequest>()
        .describe(r#"
            Checks the password and, when it is right, marks the calling session as
            re-authenticated for 5 minutes: starting a device registration on an account that
            already has a device, and regenerating recovery codes, then need no `password`
            in their own body. Needs a `full` session.
        "#)
        .decision(r#"
            Not in the base contract. A wrong password is `401 invalid_credentials` and counts toward the
            account lock, as at login; a locked account is `429`, even with the right
            password. Calling it again with a session already re-authenticated checks the
            password again and, when right, extends the mark to 5 minutes from now.
        "#)
        .doc(),
        Op::RenameDevice => op::<e::RenameDevice>(
            "renameDevice",
            "settings",
            "Rename a device",
            "The renamed device.",
        )
        .body::<mfa::RenameRequest>()
        .describe(r#"
            Names: 1–64 characters after trimming, no control characters; else `400
            invalid_request`. Another user's device id is `404 not_found`. Needs a `full`
            session.
        "#)
        .decision(r#"
            The name is stored trimmed; the name is checked before the device is looked up.
        "#)
        .fails(f::not_found())
        .doc(),
        Op::RemoveDevice => op::<e::RemoveDevice>(
            "removeDevice",
            "settings",
            "Remove a device (asks for the password again)",
            "Removed.",
        )
        .body::<sudo::PasswordRequest>()
        .describe(r#"
            Takes the JSON body `{"password"}`. A wrong password is `401 invalid_credentials`
            and counts toward the lock. Removing the only device while MFA is on makes the next
            login `mfa_setup_required`. Removing a push device also drops its SNS
            subscription. Another user's device id is `404 not_found`. Needs a `full` session.
        "#)
        .decision(r#"
            The password is checked first, so a wrong password is `401` whatever the id; a
            locked account is `429`. A right password also marks the session re-authenticated
            (5 minutes). The device is forgotten first and its SNS subscription dropped
            after: if SNS is down then, the answer is still `200` and the subscription stays,
            filtering on an id no account holds, so nothing reaches it. The caller's session
            stays `full` after removing the last device.
        "#)
        .fails(f::not_found())
        .doc(),
        Op::RegenerateRecoveryCodes => op::<e::RegenerateRecoveryCodes>(
            "regenerateRecoveryCodes",
            "settings",
            "Generate new recovery codes",
            "The new codes, shown once.",
        )
        .optional_body::<sudo::OptionalPassword>("None, `{}`, or `{\"password\"}` for re-authentication (x-latchkey-decision).")
        .describe(r#"
            Ten new codes; the old ones stop working at once. Codes are shown only here and in
            the first-device confirm answer; the store keeps only keyed hashes (HMAC-SHA256
            under a server-side key). Needs a `full` session.
        "#)
        .decision(r#"
            Needs a re-authenticated session (`POST /v1/session/reauthenticate` in the last 5
            minutes) or a right `password` in the body, else `403 reauthentication_required`.
            A wrong `password` is `401 invalid_credentials` and counts toward the lock; a
            locked account is `429`. The body may be absent, `{}` or `{"password"}`.
        "#)
        .doc(),
        Op::UpdateMfaSettings => op::<e::UpdateMfaSettings>(
            "updateMfaSettings",
            "settings",
            "Opt out of MFA or back in (asks for the password again)",
            "The new setting.",
        )
        .body::<mfa::SettingsRequest>()
        .describe(r#"
            Opting out or in needs the password; a wrong one is `401 invalid_credentials` and
            counts toward the lock. Opting in with no device makes the next login
            `mfa_setup_required`. Needs a `full` session.
        "#)
        .decision(r#"
            Setting the value it already has answers `200` and records no event. A locked
            account is `429`. A right password also marks the session re-authenticated (5
            minutes).
        "#)
        .doc(),
        Op::ListEvents => op::<e::ListEvents>(
            "listEvents",
            "settings",
            "The security log",
            "The most recent events.",
        )
        .describe(r#"
            Newest first, at most 50. Needs a `full` session.
        "#)
        .decision(r#"
            Events are kept about a year; there is no paging.
        "#)
        .doc(),
        Op::StartTotpRegistration => op::<e::StartTotpRegistration>(
            "startTotpRegistration",
            "registration",
            "Authenticator app, start registration",
            "A pending registration (10 minutes).",
        )
        .optional_body::<totp::StartRequest>(OPTIONAL)
        .describe(r#"
            Answers the seed (base32, 160 bits), its `otpauth://` URI and a QR code of it.
            SHA-1, 6 digits, 30 s, one step of skew either way (RFC 6238), so Google
            Authenticator and its peers work. Allowed to `setup` and `full` sessions.
        "#)
        .decision(r#"
            The body may be absent; `name`, if given, is checked here (400) and used unless
            confirm gives one.
        "#)
        .fails(f::method_limit_reached())
        .doc(),
        Op::ConfirmTotpRegistration => op::<e::ConfirmTotpRegistration>(
            "confirmTotpRegistration",
            "registration",
            "Authenticator app, confirm registration with a code",
            "The device is registered and the registration used. `recovery_codes` only when this is the user's first device and no recovery codes existed.",
        )
        .body::<totp::ConfirmRequest>()
        .describe(r#"
            A wrong code is `401 invalid_code` and the registration stays open until it
            expires. When this is the user's first device and no recovery codes exist, the
            answer carries `recovery_codes`; a `setup` session that confirms becomes `full`,
            and the account's other setup sessions are revoked (x-latchkey-decision).
        "#)
        .decision(r#"
            A wrong code here does not count toward the account lock. The confirming code's
            time step is remembered (it cannot be replayed at login). Unknown, another user's
            or another method's `registration_id`: `404`; used: `409 registration_used`;
            expired: `410 expired`; the method filled up meanwhile: `409
            method_limit_reached`.
        "#)
        .fails(Failure::new(vec![Error::InvalidCode], "`invalid_code`: the code is wrong."))
        .fails(f::registration_not_found())
        .fails(f::registration_conflict())
        .fails(f::expired())
        .doc(),
        Op::StartWebauthnRegistration => op::<e::StartWebauthnRegistration>(
            "startWebauthnRegistration",
            "registration",
            "Security key or passkey, start registration",
            "A pending registration (10 minutes) and the creation options.",
        )
        .optional_body::<webauthn::StartRegistrationRequest>(OPTIONAL)
        .describe(r#"
            Answers `{"registration_id", "publicKey": {...}}`, a
            `PublicKeyCredentialCreationOptions` in WebAuthn JSON (binary fields base64url),
            excluding the user's registered credentials. Allowed to `setup` and `full`
            sessions.
        "#)
        .decision(r#"
            Security keys use webauthn-rs's passkey ceremony, so user verification (PIN or
            biometric) is required; U2F-only keys cannot register. The body may be absent.
        "#)
        .fails(f::method_limit_reached())
        .doc(),
        Op::ConfirmWebauthnRegistration => op::<e::ConfirmWebauthnRegistration>(
            "confirmWebauthnRegistration",
            "registration",
            "Security key or passkey, confirm registration",
            "The device is registered and the registration used. `recovery_codes` only when this is the user's first device and no recovery codes existed.",
        )
        .body::<webauthn::ConfirmRegistrationRequest>()
        .describe(r#"
            Takes the `PublicKeyCredential` that `navigator.credentials.create()` produced, as
            JSON with base64url binary fields. When this is the user's first device and no
            recovery codes exist, the answer carries `recovery_codes`; a `setup` session that
            confirms becomes `full`, and the account's other setup sessions are revoked
            (x-latchkey-decision).
        "#)
        .decision(r#"
            A `credential` that does not verify, or an authenticator already registered on the
            account, is `400 invalid_request` naming `credential`; the registration stays open
            until it expires, as with a wrong TOTP code. Extra members browsers add inside
            `credential` are ignored (the outer object stays strict).
        "#)
        .fails(f::registration_not_found())
        .fails(f::registration_conflict())
        .fails(f::expired())
        .doc(),
        Op::StartPushRegistration => op::<e::StartPushRegistration>(
            "startPushRegistration",
            "registration",
            "Push device, start registration",
            "A pending registration (10 minutes).",
        )
        .optional_body::<push::StartRequest>(OPTIONAL)
        .describe(r#"
            Answers a `registration_uri` (see `PushRegistrationUri`) and a QR code of it. The
            push-agent reads the URI and calls `POST /v1/push/enroll`; the page polls `GET
            /v1/mfa` until the device appears. Allowed to `setup` and `full` sessions.
        "#)
        .decision(r#"
            There is no confirm route for push: enrollment is the confirmation. The body may
            be absent; `name`, if given, is used unless the enrollment gives one.
        "#)
        .fails(f::method_limit_reached())
        .doc(),
        Op::PushEnroll => op::<e::PushEnroll>(
            "pushEnroll",
            "push",
            "Push device enrollment (the push-agent; no session)",
            "The device is stored and subscribed; `topic_arn` is the topic it is subscribed to.",
        )
        .body::<push::EnrollRequest>()
        .describe(r#"
            No session: the one-time secret of the registration URI authorizes it. `signature`
            is ECDSA P-256 SHA-256 (ASN.1 DER, base64url) by the device key over
            `PushEnrollSignedString`. The server subscribes `endpoint` to the push topic with
            a filter policy on the `device_id` message attribute, then stores the device.
            Wrong secret or signature: `401`; used registration: `409 registration_used`;
            expired: `410 expired`.
        "#)
        .decision(r#"
            Checks in this order: malformed fields `400` (`name`, `public_key` not an
            uncompressed P-256 point, `endpoint` not an acceptable URL); the registration
            (unknown, or not a push registration: `404`; used: `409 registration_used`;
            expired: `410 expired`); the secret (`401 invalid_credentials`); the signature
            (`401 invalid_signature`); a push device already registered (`409
            method_limit_reached`); the SNS subscription (`503` if SNS is down). A registration
            whose starting session has ended since (logout, or an operator's `reset-mfa` /
            `revoke-sessions`) is `410 expired`. If the setup session that started the
            registration is still live, it becomes `full`, and the account's other setup
            sessions are revoked. The recovery codes a first device brings are not in this
            answer (it goes to the device, not the user's browser); the browser makes fresh
            ones with `POST /v1/mfa/recovery-codes`. The answer names the push topic
            (`topic_arn`): the device accepts SNS messages only from that topic, and only with
            SNS signature version 2 (SHA256withRSA).
        "#)
        .fails(Failure::new(vec![Error::InvalidCredentials, Error::InvalidSignature], r#"
`invalid_credentials`: the one-time secret is wrong. `invalid_signature`: the
enrollment signature does not verify with `public_key`.
"#))
        .fails(f::registration_not_found())
        .fails(f::registration_conflict())
        .fails(f::expired())
        .doc(),
        Op::PushRespond => op::<e::PushRespond>(
            "pushRespond",
            "push",
            "The push device's answer to a login push (no session)",
            "The answer was recorded.",
        )
        .body::<push::RespondRequest>()
        .describe(r#"
            No session: the device key authorizes it. `signature` is ECDSA P-256 SHA-256
            (ASN.1 DER, base64url) by the device key over `PushAnswerSignedString`. An
            approval with the wrong number is recorded as denied. A second answer: `409
            already_answered`. Bad signature: `401 invalid_signature`. After expiry: `410
            expired`.
        "#)
        .decision(r#"
            A push that is unknown, or not for this `device_id` (or for a device removed
            since), is `404 not_found`. Then the signature (`401`), and only then the push's
            state (`409`, `410`), so nothing about a push is told without a valid signature.
            An absent `number` signs and compares as the empty string. An approval with the
            wrong number also counts as a wrong second factor (against the mfa_token and the
            account lock) and records `push_denied` with detail `wrong number`.
        "#)
        .fails(Failure::new(vec![Error::InvalidSignature], "`invalid_signature`: the answer's signature does not verify with the device key."))
        .fails(f::not_found())
        .fails(Failure::new(vec![Error::AlreadyAnswered], "`already_answered`: the push was approved or denied before."))
        .fails(f::expired())
        .doc(),
        Op::PushReport => op::<e::PushReport>(
            "pushReport",
            "push",
            "\"This wasn't me\": the push device reports a security notice (no session)",
            "Reported; every session of the account was revoked.",
        )
        .body_as::<schema::NoticeReportRequest>()
        .describe(r#"
            No session: the device key authorizes it. `signature` is ECDSA P-256 SHA-256
            (ASN.1 DER, base64url) by the device key over `NoticeReportSignedString`. Every
            session of the account is revoked at once; when the notice was a `device_added`
            and that device is still registered, it is removed (a push device's SNS
            subscription with it); the event `notice_reported` is recorded. Bad signature:
            `401 invalid_signature`; a second report of the same notice: `409
            already_answered`; after expiry (7 days after the change): `410 expired`; unknown
            notice or another account's device: `404 not_found`.
        "#)
        .decision(r#"
            The `notice_id` names the event the notice was about (`NoticePayload`), so the
            event, the profile and the notice's report are read by key. A notice id no event
            of a noticed type has, or a `device_id` that is not the account's push device, is
            `404 not_found`; then the signature (`401`); only then the notice's state (`409`,
            `410`). The report, its event, the device removal and the first sessions revoked
            are one conditional write: two reports of one notice cannot both succeed.
            `notice_reported` carries the removed device's id, if any, and the detail
            `<event> notice` (`; device removed` when one was).
        "#)
        .fails(Failure::new(vec![Error::InvalidSignature], "`invalid_signature`: the report's signature does not verify with the device key."))
        .fails(f::not_found())
        .fails(Failure::new(vec![Error::AlreadyAnswered], "`already_answered`: the notice was reported before."))
        .fails(f::expired())
        .doc(),
    }
}

/// An operation, as the document tells it.
pub struct Doc {
    pub id: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub description: Option<String>,
    pub decision: Option<String>,
    pub success: &'static str,
    pub status: u16,
    /// The answer's schema name; none for `204`.
    pub output: Option<String>,
    pub body: Body,
    /// The operation's own failures (not those of its kind).
    pub failures: Vec<Failure>,
    /// The schemas the operation refers to, and theirs.
    pub schemas: Schemas,
}

pub enum Body {
    /// A GET: no body.
    None,
    /// None, or `{}`.
    Empty,
    Required(String),
    Optional(String, &'static str),
}

impl Body {
    pub fn render(&self) -> Option<Value> {
        let (required, description, schema) = match self {
            Body::None => return None,
            Body::Empty => (
                false,
                Some("None, or an empty object (x-latchkey-decision)."),
                "EmptyRequest",
            ),
            Body::Required(name) => (true, None, name.as_str()),
            Body::Optional(name, description) => (false, Some(*description), name.as_str()),
        };
        let mut body = serde_yaml::Mapping::new();
        body.insert("required".into(), required.into());
        if let Some(description) = description {
            body.insert("description".into(), description.into());
        }
        body.insert(
            "content".into(),
            map([(
                "application/json",
                map([("schema", reference("schemas", schema))]),
            )]),
        );
        Some(Value::Mapping(body))
    }
}

/// What an endpoint's `Input` holds: the body type, possibly beside the path's `{id}` or
/// the client's facts, which are not in the body.
pub trait Carries<T> {}
impl<T> Carries<T> for T {}
impl<T> Carries<T> for (String, T) {}
impl<T> Carries<T> for (T, ClientInfo) {}

pub struct Builder<E> {
    doc: Doc,
    endpoint: PhantomData<E>,
}

fn collect<T: ToSchema>(schemas: &mut Schemas) -> String {
    T::schemas(schemas);
    let name = T::name().into_owned();
    schemas.push((name.clone(), T::schema()));
    name
}

fn op<E: Endpoint>(
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    success: &'static str,
) -> Builder<E>
where
    E::Output: ToSchema,
{
    let mut schemas = Schemas::new();
    let output = collect::<E::Output>(&mut schemas);
    let mut builder = op_empty::<E>(id, tag, summary, success);
    builder.doc.output = Some(output);
    builder.doc.schemas = schemas;
    builder
}

fn op_empty<E: Endpoint>(
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    success: &'static str,
) -> Builder<E> {
    Builder {
        doc: Doc {
            id,
            tag,
            summary,
            description: None,
            decision: None,
            success,
            status: E::STATUS,
            output: None,
            body: Body::None,
            failures: Vec::new(),
            schemas: Schemas::new(),
        },
        endpoint: PhantomData,
    }
}

impl<E: Endpoint> Builder<E> {
    /// The request body: `T`, which the endpoint reads.
    fn body<T: ToSchema>(mut self) -> Self
    where
        E::Input: Carries<T>,
    {
        self.doc.body = Body::Required(collect::<T>(&mut self.doc.schemas));
        self
    }

    /// A body the endpoint may also find absent (every field of `T` is optional).
    fn optional_body<T: ToSchema + Default>(mut self, description: &'static str) -> Self
    where
        E::Input: Carries<T>,
    {
        self.doc.body = Body::Optional(collect::<T>(&mut self.doc.schemas), description);
        self
    }

    /// The request body as a schema of its own, where the endpoint's type says less than
    /// the operation accepts (`POST /v1/login` reads any username, sign-up only some).
    fn body_as<T: ToSchema>(mut self) -> Self {
        self.doc.body = Body::Required(collect::<T>(&mut self.doc.schemas));
        self
    }

    /// None, or `{}`.
    fn no_body(mut self) -> Self {
        self.doc.body = Body::Empty;
        self
    }

    fn describe(mut self, text: &str) -> Self {
        self.doc.description = Some(dedent(text));
        self
    }

    fn decision(mut self, text: &str) -> Self {
        self.doc.decision = Some(dedent(text));
        self
    }

    fn fails(mut self, failure: Failure) -> Self {
        self.doc.failures.push(failure);
        self
    }

    fn doc(self) -> Doc {
        self.doc
    }
}

/// The shared error answers (`#/components/responses/...`).
pub mod failures {
    use super::super::Failure;
    use latchkey::Error;

    pub fn invalid_request() -> Failure {
        Failure {
            example: Some("unknown field `admin`"),
            ..Failure::named(
                "InvalidRequest",
                vec![Error::invalid("x")],
                r#"
                `invalid_request`: malformed JSON, not an object, an unknown or missing field, a
                wrong type or an out-of-range value. The message names the field, never its value.
                "#,
            )
        }
    }

    pub fn unauthenticated() -> Failure {
        Failure::named(
            "Unauthenticated",
            vec![Error::Unauthenticated],
            "`unauthenticated`: the bearer token is missing, unknown, expired or revoked.",
        )
    }

    pub fn wrong_password() -> Failure {
        Failure::named(
            "WrongPassword",
            vec![Error::InvalidCredentials],
            "`invalid_credentials`: the `password` is wrong (counts toward the account lock).",
        )
    }

    pub fn invalid_mfa_token() -> Failure {
        Failure::named(
            "InvalidMfaToken",
            vec![Error::InvalidMfaToken],
            "`invalid_mfa_token`: the mfa_token is unknown, expired (5 minutes), exhausted (5 \
             wrong second factors) or spent.",
        )
    }

    pub fn mfa_setup_required() -> Failure {
        Failure::named(
            "MfaSetupRequired",
            vec![Error::MfaSetupRequired],
            "`mfa_setup_required`: a `setup` session called a route that needs a `full` one. \
             Register a first device.",
        )
    }

    pub fn reauthentication_required() -> Failure {
        Failure::named(
            "ReauthenticationRequired",
            vec![Error::ReauthenticationRequired],
            r#"
            `reauthentication_required`: the session was not re-authenticated in the last 5
            minutes and the body carries no `password` (on a registration start: only once
            the account has a device). Call `POST /v1/session/reauthenticate`, or send the
            `password` with the request.
            "#,
        )
    }

    pub fn not_found() -> Failure {
        Failure::named(
            "NotFound",
            vec![Error::NotFound],
            "`not_found`: no such thing for this caller. Another user's ids are answered the \
             same, never revealing that they exist.",
        )
    }

    pub fn registration_not_found() -> Failure {
        Failure::named(
            "RegistrationNotFound",
            vec![Error::NotFound],
            r#"
            `not_found`: the `registration_id` is unknown, another user's, or of another
            method (x-latchkey-decision).
            "#,
        )
    }

    pub fn registration_conflict() -> Failure {
        Failure::named(
            "RegistrationConflict",
            vec![Error::RegistrationUsed, Error::MethodLimitReached],
            r#"
            `registration_used`: the registration was already confirmed.
            `method_limit_reached`: the method reached its `max` since the registration
            started (x-latchkey-decision).
            "#,
        )
    }

    pub fn method_limit_reached() -> Failure {
        Failure::named(
            "MethodLimitReached",
            vec![Error::MethodLimitReached],
            "`method_limit_reached`: the user already has `max` devices of this method (`GET \
             /v1/mfa` `methods`).",
        )
    }

    pub fn method_not_registered() -> Failure {
        Failure::named(
            "MethodNotRegistered",
            vec![Error::MethodNotRegistered],
            "`method_not_registered`: the user has no device of this method \
             (x-latchkey-decision for TOTP and WebAuthn; the base contract for push). Not \
             counted as a failure.",
        )
    }

    pub fn expired() -> Failure {
        Failure::named(
            "Expired",
            vec![Error::Expired],
            "`expired`: the registration or push has expired (or, for a registration, its \
             starting session ended); start again.",
        )
    }

    pub fn payload_too_large() -> Failure {
        Failure::named(
            "PayloadTooLarge",
            vec![Error::PayloadTooLarge],
            "`payload_too_large`: the request body is over 64 KiB.",
        )
    }

    pub fn account_locked() -> Failure {
        Failure::named(
            "AccountLocked",
            vec![Error::TooManyAttempts {
                retry_after_secs: 1,
            }],
            r#"
            `too_many_attempts`: the account is locked (10 failures in a row) for 15 minutes
            from the last failure. `Retry-After` is the seconds until it lifts. A password
            attempt decided after the lock gets this even when the password is right.
            "#,
        )
    }

    pub fn unavailable() -> Failure {
        Failure::named(
            "Unavailable",
            vec![Error::Unavailable],
            r#"
            `unavailable`: the store or SNS is unavailable, or concurrent changes kept
            conflicting; nothing was half-written. `Retry-After: 1` (x-latchkey-decision).
            "#,
        )
    }

    pub fn internal_error() -> Failure {
        Failure::named(
            "InternalError",
            vec![Error::internal("x")],
            r#"
            `internal_error`: a bug or a corrupt record; details go to the log, never to the
            client (x-latchkey-decision: the base contract has no 500 row).
            "#,
        )
    }
}
