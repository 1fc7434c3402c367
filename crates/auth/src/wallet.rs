//! Agent wallets: a Solana-compatible ed25519 keypair. The 32-byte seed is kept as hex (a
//! secret setting), the address is the base58 public key, and a random 16-byte passphrase
//! goes with it (reference agents-memory.md section 2.8).

use ed25519_dalek::SigningKey;

#[derive(Clone, PartialEq, Eq)]
pub struct Wallet {
    /// The 32-byte seed, hex.
    pub secret_hex: String,
    /// 16 random bytes, hex.
    pub passphrase_hex: String,
    /// The base58 public key.
    pub address: String,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Wallet {
    /// A new random wallet.
    pub fn generate() -> Wallet {
        Wallet::from_seed(rand::random(), rand::random())
    }

    pub fn from_seed(seed: [u8; 32], passphrase: [u8; 16]) -> Wallet {
        let key = SigningKey::from_bytes(&seed);
        Wallet {
            secret_hex: hex::encode(seed),
            passphrase_hex: hex::encode(passphrase),
            address: bs58::encode(key.verifying_key().to_bytes()).into_string(),
        }
    }

    /// The address of a hex seed, or `None` when it is not 32 bytes of hex.
    pub fn address_of(secret_hex: &str) -> Option<String> {
        let seed: [u8; 32] = hex::decode(secret_hex).ok()?.try_into().ok()?;
        Some(bs58::encode(SigningKey::from_bytes(&seed).verifying_key().to_bytes()).into_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wallet_is_a_solana_keypair() {
        // RFC 8032 test vector 1: this seed's public key.
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap()
            .try_into()
            .unwrap();
        let wallet = Wallet::from_seed(seed, [0; 16]);
        let public =
            hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
                .unwrap();
        assert_eq!(wallet.address, bs58::encode(public).into_string());
        assert_eq!(wallet.secret_hex.len(), 64);
        assert_eq!(
            Wallet::address_of(&wallet.secret_hex),
            Some(wallet.address.clone())
        );
        let (a, b) = (Wallet::generate(), Wallet::generate());
        assert_ne!(a.address, b.address);
        assert!((32..=44).contains(&a.address.len()), "{}", a.address);
        assert_eq!(Wallet::address_of("zz"), None);
    }
}
