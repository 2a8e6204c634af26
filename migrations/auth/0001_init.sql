-- auth: accounts, identities, terms, tokens, revocations, login history.
-- Personal data (email, name, phone) is stored encrypted (AES-256-GCM, with
-- the key id in the value); lookups use HMAC blind indexes; the identity CI is
-- only ever stored as a keyed hash.

CREATE TABLE auth.users (
  id              uuid PRIMARY KEY,
  email_index     text NOT NULL,
  email_enc       text NOT NULL,
  name_enc        text NOT NULL,
  phone_enc       text NOT NULL,
  password_hash   text NOT NULL,
  role            text NOT NULL DEFAULT 'USER' CHECK (role IN ('USER', 'ADMIN')),
  status          text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'INACTIVE', 'DORMANT', 'DELETED')),
  ci_index        text,
  failed_logins   int NOT NULL DEFAULT 0,
  first_failed_at timestamptz,
  locked_until    timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  last_login_at   timestamptz,
  deleted_at      timestamptz
);
-- One live account per email and per person; a withdrawn account frees both
-- (its CI then sits in blocked_identities for the configured period).
CREATE UNIQUE INDEX users_email_live ON auth.users (email_index) WHERE status <> 'DELETED';
CREATE UNIQUE INDEX users_ci_live ON auth.users (ci_index) WHERE status <> 'DELETED' AND ci_index IS NOT NULL;

CREATE TABLE auth.blocked_identities (
  ci_index      text PRIMARY KEY,
  blocked_until timestamptz NOT NULL,
  reason        text NOT NULL
);

CREATE TABLE auth.identity_verifications (
  id          text PRIMARY KEY,
  provider    text NOT NULL CHECK (provider IN ('sandbox', 'portone')),
  ci_index    text,
  status      text NOT NULL CHECK (status IN ('PENDING', 'VERIFIED', 'USED')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  used_at     timestamptz
);

CREATE TABLE auth.terms (
  type          text NOT NULL,
  version       text NOT NULL,
  title         text NOT NULL,
  required      boolean NOT NULL,
  url           text NOT NULL,
  effective_at  timestamptz NOT NULL DEFAULT now(),
  current       boolean NOT NULL DEFAULT true,
  PRIMARY KEY (type, version)
);
INSERT INTO auth.terms (type, version, title, required, url) VALUES
  ('SERVICE', '2026-01', 'Terms of Service', true, 'https://ticketd.dev/terms/service/2026-01'),
  ('PRIVACY', '2026-01', 'Privacy Policy (collection and use of personal data)', true, 'https://ticketd.dev/terms/privacy/2026-01'),
  ('AGE', '2026-01', 'I am 14 years of age or older', true, 'https://ticketd.dev/terms/age/2026-01'),
  ('MARKETING', '2026-01', 'Marketing messages (optional)', false, 'https://ticketd.dev/terms/marketing/2026-01');

CREATE TABLE auth.terms_agreements (
  user_id    uuid NOT NULL REFERENCES auth.users (id),
  type       text NOT NULL,
  version    text NOT NULL,
  agreed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, type, version),
  FOREIGN KEY (type, version) REFERENCES auth.terms (type, version)
);

-- A login session: refresh tokens rotate within it; reuse revokes it whole.
CREATE TABLE auth.token_families (
  id               uuid PRIMARY KEY,
  user_id          uuid NOT NULL REFERENCES auth.users (id),
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_access_jti  text NOT NULL,
  last_access_exp  timestamptz NOT NULL,
  revoked_at       timestamptz,
  revoke_reason    text
);
CREATE INDEX token_families_user ON auth.token_families (user_id) WHERE revoked_at IS NULL;
CREATE INDEX token_families_jti ON auth.token_families (last_access_jti);

CREATE TABLE auth.refresh_tokens (
  token_hash  text PRIMARY KEY,
  family_id   uuid NOT NULL REFERENCES auth.token_families (id),
  user_id     uuid NOT NULL,
  issued_at   timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  rotated_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON auth.refresh_tokens (family_id);

-- Denylist read by every instance (polled into memory): an access token id
-- until its expiry, or every token of a user issued up to created_at.
CREATE TABLE auth.revocations (
  id          bigserial PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('jti', 'user')),
  subject     text NOT NULL,
  expires_at  timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX revocations_expiry ON auth.revocations (expires_at);

CREATE TABLE auth.login_history (
  id           bigserial PRIMARY KEY,
  user_id      uuid,
  ip           text NOT NULL,
  user_agent   text NOT NULL,
  method       text NOT NULL,
  success      boolean NOT NULL,
  reason       text NOT NULL,
  at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_history_user ON auth.login_history (user_id, at DESC);
