# Shared openssl helpers for make-docker-certs.sh and make-kafka-certs.sh (sourced, not run).
# Keys: ECDSA P-256, PKCS#8 PEM, mode 0400. Certificates: SHA-256, random 128-bit serials.

PKI_DAYS=${PKI_DAYS:-825}        # leaf certificates (rotate well before: deploy/README.md)
PKI_CA_DAYS=${PKI_CA_DAYS:-3650}

pki_die() { echo "$(basename "$0"): $*" >&2; exit 2; }

command -v openssl >/dev/null 2>&1 || pki_die "openssl not found"

pki_key() {  # pki_key PATH
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null) \
    || pki_die "cannot write key $1"
  chmod 0400 "$1"
}

pki_serial() { echo "0x$(openssl rand -hex 16)"; }

# pki_ca DIR CN: reuse DIR/ca.pem + DIR/ca-key.pem when both exist, else create them.
pki_ca() {
  mkdir -p "$1"
  if [ -s "$1/ca.pem" ] && [ -s "$1/ca-key.pem" ]; then
    echo "reusing CA $1/ca.pem"
    return 0
  fi
  if [ -e "$1/ca.pem" ] || [ -e "$1/ca-key.pem" ]; then
    pki_die "$1 holds half a CA; remove it or restore both files"
  fi
  pki_key "$1/ca-key.pem"
  openssl req -new -x509 -sha256 -days "$PKI_CA_DAYS" -key "$1/ca-key.pem" -subj "/CN=$2" \
    -set_serial "$(pki_serial)" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$1/ca.pem" 2>/dev/null || pki_die "cannot create the CA in $1"
  chmod 0444 "$1/ca.pem"
  echo "created CA $1/ca.pem (keep ca-key.pem offline)"
}

# pki_san "a,b,c" -> "DNS:a,IP:10.0.0.1,..." (IPv4/IPv6 literals become IP entries)
pki_san() {
  _pki_out=""
  for _pki_item in $(echo "$1" | tr ',' ' '); do
    case "$_pki_item" in
      *:*) _pki_kind=IP ;;          # IPv6 literal
      *[!0-9.]*) _pki_kind=DNS ;;   # anything but digits and dots
      *) _pki_kind=IP ;;            # IPv4 literal
    esac
    case ",$_pki_out," in *",$_pki_kind:$_pki_item,"*) continue ;; esac  # no duplicates
    _pki_out="${_pki_out:+$_pki_out,}$_pki_kind:$_pki_item"
  done
  echo "$_pki_out"
}

# pki_leaf CA_DIR OUT_KEY OUT_CERT CN USAGE(serverAuth|clientAuth) [SANS]
# (POSIX sh has no locals: helper variables are prefixed with _pki_.)
pki_leaf() {
  _pki_ca=$1; _pki_key=$2; _pki_cert=$3; _pki_cn=$4; _pki_usage=$5; _pki_sans=${6:-}
  _pki_ext=$(mktemp)
  _pki_csr=$(mktemp)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$_pki_usage"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid"
    if [ -n "$_pki_sans" ]; then echo "subjectAltName=$(pki_san "$_pki_sans")"; fi
  } > "$_pki_ext"
  rm -f "$_pki_key" "$_pki_cert"
  pki_key "$_pki_key"
  openssl req -new -sha256 -key "$_pki_key" -subj "/CN=$_pki_cn" -out "$_pki_csr" 2>/dev/null \
    || pki_die "cannot create the request for $_pki_cn"
  openssl x509 -req -sha256 -days "$PKI_DAYS" -in "$_pki_csr" -CA "$_pki_ca/ca.pem" -CAkey "$_pki_ca/ca-key.pem" \
    -set_serial "$(pki_serial)" -extfile "$_pki_ext" -out "$_pki_cert" 2>/dev/null || pki_die "cannot sign $_pki_cn"
  rm -f "$_pki_ext" "$_pki_csr"
  chmod 0444 "$_pki_cert"
  openssl verify -CAfile "$_pki_ca/ca.pem" "$_pki_cert" >/dev/null || pki_die "$_pki_cert does not verify"
}
