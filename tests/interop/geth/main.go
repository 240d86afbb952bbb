// Command geth-client drives p11signer through go-ethereum's own Clef client,
// accounts/external.ExternalSigner, the code behind `geth --signer`.
//
//	geth-client -endpoint http://127.0.0.1:PORT|/path/to.ipc -chainid N -address 0x...
//	geth-client -plan        print how many checks one run makes, and exit
//
// It prints TAP: "1..K", then one "ok N - what" or "not ok N - what: why" per
// check, with "# " lines for detail.  tests/interop/geth.test runs it once over
// HTTP and once over IPC and renumbers the lines into its own plan.  The exit
// status is 1 when any check failed.
//
// geth's answers are the oracle: the transaction the client hands back must
// recover (types.Sender) to the token's key and carry the fields that were sent;
// text, typed data and Clique headers must recover over geth's own digests
// (accounts.TextHash, apitypes.TypedDataAndHash, Clique's seal hash).  What the
// client cannot express (blob sidecars, EIP-7702 authorisations) is sent
// anyway and the outcome printed, so a change on either side shows up here.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/accounts/external"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/crypto/kzg4844"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
	"github.com/holiman/uint256"
)

// checkTimeout bounds every request: ExternalSigner calls the signer without a
// context, so a signer that never answers would otherwise hang the test.
const checkTimeout = 30 * time.Second

type check struct {
	name string
	run  func(*env) error
}

type env struct {
	endpoint string
	chainID  *big.Int
	want     common.Address
	account  accounts.Account
	signer   *external.ExternalSigner
	rpc      *rpc.Client // the same endpoint, for what the client does not expose
}

// Recipient of the test transactions: a checksummed, non-zero address (Clef's
// validation refuses a bad checksum or the zero address without --advanced).
var recipient = common.HexToAddress("0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045")

// transfer(address,uint256) to recipient of 1000: calldata Clef finds to be ABI.
var calldata = common.FromHex("0xa9059cbb" +
	"000000000000000000000000d8da6bf26964af9d7eed9e03e53415d37aa96045" +
	"00000000000000000000000000000000000000000000000000000000000003e8")

var accessList = types.AccessList{
	{Address: common.HexToAddress("0x1111111111111111111111111111111111111111"),
		StorageKeys: []common.Hash{common.HexToHash("0x01"), common.HexToHash("0x02")}},
	{Address: recipient, StorageKeys: []common.Hash{}},
}

var checks = []check{
	{"NewExternalSigner connects (account_version)", checkConnect},
	{"Accounts() lists the token's key", checkAccounts},
	{"Contains() finds the token's key", checkContains},
	{"SignTx legacy (EIP-155) with the chain id", checkLegacy},
	{"SignTx legacy without a chain id takes --chainid", checkLegacyDefaultChain},
	{"SignTx EIP-2930 access-list transaction", checkAccessList},
	{"SignTx EIP-1559 dynamic-fee transaction", checkDynamicFee},
	{"SignTx EIP-1559 contract creation (to: null, empty access list)", checkCreate},
	{"account_signTransaction raw decodes to the same transaction as tx, and hash matches", checkRawAgrees},
	{"SignTx on another chain id is refused with Clef's message", checkWrongChain},
	{"SignTx for an unknown account is refused", checkUnknownAccount},
	{"SignTx EIP-4844 with a blob sidecar (the client sends blobs) is refused", checkBlob},
	{"SignTx EIP-7702: the client sends no authorization list, a type-2 transaction is signed", checkSetCode},
	{"SignText recovers over accounts.TextHash with V 0/1", checkSignText},
	{"SignData text/plain answers V 27/28, as Clef does", checkSignDataText},
	{"SignData data/typed (EIP-712, hex of the JSON) recovers over apitypes.TypedDataAndHash", checkTypedData},
	{"SignData application/x-clique-header recovers over Clique's seal hash with V 0/1", checkClique},
	{"SignData data/validator as the client sends it (hex, not an object) gives an error", checkValidator},
	{"SignTxWithPassphrase is refused by the client itself", checkPassphrase},
}

func main() {
	endpoint := flag.String("endpoint", "", "the signer: http://HOST:PORT or an IPC socket path")
	chainID := flag.String("chainid", "", "the signer's --chainid (decimal or 0x)")
	address := flag.String("address", "", "the token key's address")
	plan := flag.Bool("plan", false, "print the number of checks and exit")
	flag.Parse()
	if *plan {
		fmt.Println(len(checks))
		return
	}
	id, ok := new(big.Int).SetString(strings.TrimPrefix(*chainID, "0x"), map[bool]int{true: 16, false: 10}[strings.HasPrefix(*chainID, "0x")])
	if *endpoint == "" || !ok || id.Sign() <= 0 || !common.IsHexAddress(*address) {
		fmt.Fprintln(os.Stderr, "usage: geth-client -endpoint URL|PATH -chainid N -address 0x... | -plan")
		os.Exit(2)
	}
	e := &env{endpoint: *endpoint, chainID: id, want: common.HexToAddress(*address)}
	e.account = accounts.Account{Address: e.want}

	fmt.Printf("1..%d\n", len(checks))
	failed := 0
	for i, c := range checks {
		n := i + 1
		if e.signer == nil && i > 0 {
			fmt.Printf("not ok %d - %s: no client (NewExternalSigner failed)\n", n, c.name)
			failed++
			continue
		}
		err := runBounded(c, e)
		if err == nil {
			fmt.Printf("ok %d - %s\n", n, c.name)
			continue
		}
		failed++
		lines := strings.Split(strings.TrimRight(err.Error(), "\n"), "\n")
		fmt.Printf("not ok %d - %s: %s\n", n, c.name, lines[0])
		for _, l := range lines[1:] {
			fmt.Printf("# %s\n", l)
		}
		if errors.Is(err, errTimeout) {
			// The goroutine still holds the connection; the rest would only queue behind it.
			for j := i + 1; j < len(checks); j++ {
				fmt.Printf("not ok %d - %s: not run, an earlier request never came back\n", j+1, checks[j].name)
				failed++
			}
			break
		}
	}
	if e.rpc != nil {
		e.rpc.Close()
	}
	if failed > 0 {
		fmt.Printf("# %d of %d checks failed against %s\n", failed, len(checks), *endpoint)
		os.Exit(1)
	}
}

var errTimeout = errors.New("timed out")

func runBounded(c check, e *env) (err error) {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- c.run(e)
	}()
	select {
	case err = <-done:
		return err
	case <-time.After(checkTimeout):
		return fmt.Errorf("no answer within %v: %w", checkTimeout, errTimeout)
	}
}

// note prints a TAP comment: what the signer said where that is information.
func note(format string, a ...any) {
	fmt.Printf("# "+format+"\n", a...)
}

func checkConnect(e *env) error {
	s, err := external.NewExternalSigner(e.endpoint)
	if err != nil {
		return err
	}
	e.signer = s
	if e.rpc, err = rpc.Dial(e.endpoint); err != nil {
		return fmt.Errorf("second connection: %v", err)
	}
	status, _ := s.Status()
	if status != "ok [version=6.1.0]" {
		return fmt.Errorf("status %q, want \"ok [version=6.1.0]\" (Clef's external API 6.1.0)", status)
	}
	return nil
}

func checkAccounts(e *env) error {
	list := e.signer.Accounts()
	for _, a := range list {
		if a.Address == e.want {
			if a.URL.Scheme != "extapi" {
				return fmt.Errorf("account URL %v, want scheme extapi", a.URL)
			}
			return nil
		}
	}
	// Accounts() swallows the error (it only logs it): ask again to show it.
	var raw json.RawMessage
	err := e.rpc.Call(&raw, "account_list")
	return fmt.Errorf("%v not among %d accounts %v; account_list said %s (error %v)",
		e.want.Hex(), len(list), list, raw, err)
}

func checkContains(e *env) error {
	if !e.signer.Contains(e.account) {
		return fmt.Errorf("Contains(%v) is false", e.want.Hex())
	}
	other := accounts.Account{Address: common.HexToAddress("0x00000000000000000000000000000000000000aa")}
	if e.signer.Contains(other) {
		return fmt.Errorf("Contains(%v) is true for an address that is not on the token", other.Address.Hex())
	}
	return nil
}

// signAndCheck sends tx through SignTx and compares what comes back with what
// was sent: same type, fields and chain, signed by the token's key.
func signAndCheck(e *env, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
	signed, err := e.signer.SignTx(e.account, tx, chainID)
	if err != nil {
		return nil, fmt.Errorf("SignTx: %v", err)
	}
	if signed == nil {
		return nil, errors.New("SignTx returned no transaction (the answer had no \"tx\")")
	}
	if err := sameTx(tx, signed, e.chainID); err != nil {
		return signed, err
	}
	from, err := types.Sender(types.LatestSignerForChainID(e.chainID), signed)
	if err != nil {
		return signed, fmt.Errorf("types.Sender: %v", err)
	}
	if from != e.want {
		return signed, fmt.Errorf("signed by %v, want %v", from.Hex(), e.want.Hex())
	}
	if v, r, s := signed.RawSignatureValues(); r.Sign() == 0 || s.Sign() == 0 || v == nil {
		return signed, fmt.Errorf("empty signature v=%v r=%v s=%v", v, r, s)
	} else if s.Cmp(halfN) > 0 {
		return signed, fmt.Errorf("high s %#x", s)
	}
	return signed, nil
}

var halfN = new(big.Int).Rsh(crypto.S256().Params().N, 1)

func sameTx(sent, got *types.Transaction, chainID *big.Int) error {
	var diffs []string
	diff := func(what string, a, b any) {
		if fmt.Sprint(a) != fmt.Sprint(b) {
			diffs = append(diffs, fmt.Sprintf("%s: sent %v, got %v", what, a, b))
		}
	}
	diff("type", sent.Type(), got.Type())
	diff("chainId", chainID, got.ChainId())
	diff("nonce", sent.Nonce(), got.Nonce())
	diff("gas", sent.Gas(), got.Gas())
	diff("to", addrString(sent.To()), addrString(got.To()))
	diff("value", sent.Value(), got.Value())
	diff("data", hexutil.Encode(sent.Data()), hexutil.Encode(got.Data()))
	if sent.Type() == types.LegacyTxType || sent.Type() == types.AccessListTxType {
		diff("gasPrice", sent.GasPrice(), got.GasPrice())
	} else {
		diff("maxFeePerGas", sent.GasFeeCap(), got.GasFeeCap())
		diff("maxPriorityFeePerGas", sent.GasTipCap(), got.GasTipCap())
	}
	if sent.Type() != types.LegacyTxType {
		a, _ := json.Marshal(sent.AccessList())
		b, _ := json.Marshal(got.AccessList())
		diff("accessList", string(a), string(b))
	}
	if sent.Type() == types.LegacyTxType && !got.Protected() {
		diffs = append(diffs, "legacy transaction is not EIP-155 protected")
	}
	if len(diffs) > 0 {
		return errors.New(strings.Join(diffs, "; "))
	}
	return nil
}

func addrString(a *common.Address) string {
	if a == nil {
		return "<contract creation>"
	}
	return a.Hex()
}

func gwei(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(1e9)) }

func legacyTx() *types.Transaction {
	return types.NewTx(&types.LegacyTx{Nonce: 7, GasPrice: gwei(20), Gas: 60000, To: &recipient,
		Value: big.NewInt(1e15), Data: calldata})
}

func checkLegacy(e *env) error {
	_, err := signAndCheck(e, legacyTx(), e.chainID)
	return err
}

func checkLegacyDefaultChain(e *env) error {
	// geth passes a nil chain id when it has none: Clef then signs for its own.
	_, err := signAndCheck(e, legacyTx(), nil)
	return err
}

func accessListTx(e *env) *types.Transaction {
	return types.NewTx(&types.AccessListTx{ChainID: e.chainID, Nonce: 8, GasPrice: gwei(21), Gas: 70000,
		To: &recipient, Value: big.NewInt(0), Data: calldata, AccessList: accessList})
}

func dynamicFeeTx(e *env) *types.Transaction {
	return types.NewTx(&types.DynamicFeeTx{ChainID: e.chainID, Nonce: 9, GasTipCap: gwei(1), GasFeeCap: gwei(30),
		Gas: 80000, To: &recipient, Value: big.NewInt(123456789), Data: calldata, AccessList: accessList})
}

func checkAccessList(e *env) error {
	_, err := signAndCheck(e, accessListTx(e), e.chainID)
	return err
}

func checkDynamicFee(e *env) error {
	_, err := signAndCheck(e, dynamicFeeTx(e), e.chainID)
	return err
}

func checkCreate(e *env) error {
	// Init code longer than 40 bytes: Clef only warns about shorter ones.
	initcode := common.FromHex("0x6080604052348015600f57600080fd5b50603f80601d6000396000f3fe6080604052600080fdfea164736f6c6343000813000a")
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: e.chainID, Nonce: 10, GasTipCap: gwei(2), GasFeeCap: gwei(40),
		Gas: 200000, To: nil, Value: big.NewInt(0), Data: initcode})
	_, err := signAndCheck(e, tx, e.chainID)
	return err
}

// checkRawAgrees sends what SignTx sends, but reads the whole answer: geth's
// client keeps only "tx", nodes re-broadcast "raw"; both must be one transaction.
func checkRawAgrees(e *env) error {
	var errs []string
	for _, tx := range []*types.Transaction{legacyTx(), accessListTx(e), dynamicFeeTx(e)} {
		if err := rawAgrees(e, tx); err != nil {
			errs = append(errs, fmt.Sprintf("type %d: %v", tx.Type(), err))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

func rawAgrees(e *env, tx *types.Transaction) error {
	data := hexutil.Bytes(tx.Data())
	to := common.NewMixedcaseAddress(*tx.To())
	args := &apitypes.SendTxArgs{From: common.NewMixedcaseAddress(e.want), To: &to, Gas: hexutil.Uint64(tx.Gas()),
		Value: hexutil.Big(*tx.Value()), Nonce: hexutil.Uint64(tx.Nonce()), Input: &data, ChainID: (*hexutil.Big)(e.chainID)}
	if tx.Type() == types.DynamicFeeTxType {
		args.MaxFeePerGas, args.MaxPriorityFeePerGas = (*hexutil.Big)(tx.GasFeeCap()), (*hexutil.Big)(tx.GasTipCap())
	} else {
		args.GasPrice = (*hexutil.Big)(tx.GasPrice())
	}
	if tx.Type() != types.LegacyTxType {
		al := tx.AccessList()
		args.AccessList = &al
	}
	var res struct {
		Raw hexutil.Bytes   `json:"raw"`
		Tx  json.RawMessage `json:"tx"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	if err := e.rpc.CallContext(ctx, &res, "account_signTransaction", args); err != nil {
		return err
	}
	var fromRaw, fromJSON types.Transaction
	if err := fromRaw.UnmarshalBinary(res.Raw); err != nil {
		return fmt.Errorf("raw %x: %v", []byte(res.Raw), err)
	}
	if err := fromJSON.UnmarshalJSON(res.Tx); err != nil {
		return fmt.Errorf("tx %s: %v", res.Tx, err)
	}
	if fromRaw.Hash() != fromJSON.Hash() {
		return fmt.Errorf("raw is %v, tx is %v\n  raw %x\n  tx  %s", fromRaw.Hash(), fromJSON.Hash(), []byte(res.Raw), res.Tx)
	}
	var shown struct {
		Hash common.Hash `json:"hash"`
	}
	if err := json.Unmarshal(res.Tx, &shown); err != nil || shown.Hash != fromRaw.Hash() {
		return fmt.Errorf("tx.hash %v, but the transaction's hash is %v (%v)", shown.Hash, fromRaw.Hash(), err)
	}
	return sameTx(tx, &fromRaw, e.chainID)
}

func checkWrongChain(e *env) error {
	other := new(big.Int).Add(e.chainID, big.NewInt(1))
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: other, Nonce: 1, GasTipCap: gwei(1), GasFeeCap: gwei(2),
		Gas: 21000, To: &recipient, Value: big.NewInt(1)})
	signed, err := e.signer.SignTx(e.account, tx, other)
	if err == nil {
		return fmt.Errorf("signed a transaction for chain %v: %v", other, signed.Hash())
	}
	note("refused: %v", err)
	return wantCode(err, -32000, fmt.Sprintf("requested chainid %v does not match the configuration of the signer", other))
}

func checkUnknownAccount(e *env) error {
	stranger := accounts.Account{Address: common.HexToAddress("0x00000000000000000000000000000000000000aa")}
	signed, err := e.signer.SignTx(stranger, legacyTx(), e.chainID)
	if err == nil {
		return fmt.Errorf("signed for %v, which is not on the token: %v", stranger.Address.Hex(), signed.Hash())
	}
	note("refused: %v", err)
	return wantCode(err, -32000, "unknown account")
}

type (
	kzgBlob       = kzg4844.Blob
	kzgCommitment = kzg4844.Commitment
	kzgProof      = kzg4844.Proof
)

func u256(b *big.Int) *uint256.Int { return uint256.MustFromBig(b) }

func checkBlob(e *env) error {
	var blob [131072]byte
	sidecar := types.NewBlobTxSidecar(types.BlobSidecarVersion0, []kzgBlob{kzgBlob(blob)}, []kzgCommitment{{0xc0}}, []kzgProof{{0xc0}})
	tx := types.NewTx(&types.BlobTx{ChainID: u256(e.chainID), Nonce: 11, GasTipCap: u256(gwei(1)), GasFeeCap: u256(gwei(30)),
		Gas: 21000, To: recipient, Value: u256(big.NewInt(0)), BlobFeeCap: u256(gwei(1)),
		BlobHashes: []common.Hash{common.HexToHash("0x01" + strings.Repeat("ab", 31))}, Sidecar: sidecar})
	signed, err := e.signer.SignTx(e.account, tx, e.chainID)
	if err == nil {
		return fmt.Errorf("signed a blob transaction that came with its sidecar (type %d, %v); docs/api.md says sidecars are refused", signed.Type(), signed.Hash())
	}
	note("refused: %v", err)
	return wantCode(err, -32602, "blob")
}

// wantCode checks that err is a JSON-RPC error with that code whose message
// mentions word: refused for the reason meant, not for another (an unknown
// account would refuse anything).
func wantCode(err error, code int, word string) error {
	var rerr rpc.Error
	if !errors.As(err, &rerr) {
		return fmt.Errorf("not a JSON-RPC error: %v", err)
	}
	if rerr.ErrorCode() != code || !strings.Contains(rerr.Error(), word) {
		return fmt.Errorf("error %d %q, want code %d mentioning %q", rerr.ErrorCode(), rerr.Error(), code, word)
	}
	return nil
}

// checkSetCode records what happens to an EIP-7702 transaction: the client
// (accounts/external) copies only the fee fields and the access list, never
// the authorization list, so the signer cannot know one was meant.
func checkSetCode(e *env) error {
	auth := types.SetCodeAuthorization{ChainID: *u256(e.chainID), Address: recipient, Nonce: 12}
	tx := types.NewTx(&types.SetCodeTx{ChainID: u256(e.chainID), Nonce: 12, GasTipCap: u256(gwei(1)), GasFeeCap: u256(gwei(30)),
		Gas: 60000, To: recipient, Value: u256(big.NewInt(0)), AuthList: []types.SetCodeAuthorization{auth}})
	signed, err := e.signer.SignTx(e.account, tx, e.chainID)
	switch {
	case err != nil:
		// What arrives is a well-formed EIP-1559 request: nothing to refuse.
		return fmt.Errorf("SignTx: %v", err)
	case signed.Type() == types.SetCodeTxType:
		return fmt.Errorf("a type-4 transaction came back although the client sends no authorizationList: %v", signed.Hash())
	}
	note("geth's client dropped the authorization list; the signer signed what it was sent, a type-%d transaction", signed.Type())
	return nil
}

var helloText = []byte("p11signer interop: geth's accounts/external SignText")

func checkSignText(e *env) error {
	sig, err := e.signer.SignText(e.account, helloText)
	if err != nil {
		return err
	}
	return recovers(sig, accounts.TextHash(helloText), e.want, 0)
}

func checkSignDataText(e *env) error {
	sig, err := e.signer.SignData(e.account, accounts.MimetypeTextPlain, helloText)
	if err != nil {
		return err
	}
	if len(sig) != crypto.SignatureLength {
		return fmt.Errorf("signature of %d bytes: %x", len(sig), []byte(sig))
	}
	if sig[64] != 27 && sig[64] != 28 {
		return fmt.Errorf("V = %d, Clef answers 27 or 28 (geth's SignText subtracts 27 only from those)", sig[64])
	}
	return recovers(sig, accounts.TextHash(helloText), e.want, 27)
}

// recovers checks that sig (r||s||v, v - vbase in {0,1}) is e.want's over hash.
func recovers(sig []byte, hash []byte, want common.Address, vbase byte) error {
	if len(sig) != crypto.SignatureLength {
		return fmt.Errorf("signature of %d bytes: %x", len(sig), sig)
	}
	s := bytes.Clone(sig)
	if s[64] != vbase && s[64] != vbase+1 {
		return fmt.Errorf("V = %d, want %d or %d", s[64], vbase, vbase+1)
	}
	s[64] -= vbase
	if new(big.Int).SetBytes(s[32:64]).Cmp(halfN) > 0 {
		return fmt.Errorf("high s in %x", sig)
	}
	pub, err := crypto.SigToPub(hash, s)
	if err != nil {
		return fmt.Errorf("crypto.SigToPub: %v (signature %x)", err, sig)
	}
	if got := crypto.PubkeyToAddress(*pub); got != want {
		return fmt.Errorf("recovers to %v, want %v (hash %x, signature %x)", got.Hex(), want.Hex(), hash, sig)
	}
	return nil
}

// Typed data with what EIP-712 has: nested structs, an array of structs,
// address, uint256 beyond 2^64, bytes, bytes32, bool, string.
const typedJSON = `{
  "types": {
    "EIP712Domain": [
      {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
      {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
    "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
    "Mail": [
      {"name": "from", "type": "Person"}, {"name": "to", "type": "Person[]"},
      {"name": "contents", "type": "string"}, {"name": "amount", "type": "uint256"},
      {"name": "memo", "type": "bytes"}, {"name": "tag", "type": "bytes32"}, {"name": "urgent", "type": "bool"}]
  },
  "primaryType": "Mail",
  "domain": {"name": "Ether Mail", "version": "1", "chainId": %s,
             "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
  "message": {
    "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
    "to": [{"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
           {"name": "Alice", "wallet": "0xB0BdaBea57B0BDABeA57b0bdABEA57b0BDabEa57"}],
    "contents": "Hello from geth's accounts/external",
    "amount": "1000000000000000000000",
    "memo": "0xdeadbeef",
    "tag": "0x0101010101010101010101010101010101010101010101010101010101010101",
    "urgent": true
  }
}`

func checkTypedData(e *env) error {
	doc := fmt.Sprintf(typedJSON, e.chainID.String())
	var td apitypes.TypedData
	if err := json.Unmarshal([]byte(doc), &td); err != nil {
		return fmt.Errorf("the test's own typed data: %v", err)
	}
	hash, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		return fmt.Errorf("apitypes.TypedDataAndHash: %v", err)
	}
	// geth's SignData sends the bytes hex-encoded, as it does for every content type.
	sig, err := e.signer.SignData(e.account, accounts.MimetypeTypedData, []byte(doc))
	if err != nil {
		return err
	}
	return recovers(sig, hash, e.want, 27)
}

// cliqueSealHash is Clique's SealHash (consensus/clique.encodeSigHeader):
// keccak256 of the header's RLP with the last 65 bytes of extra left out.
// Written out here so the test module does not pull in the consensus engine.
func cliqueSealHash(h *types.Header) []byte {
	enc := []any{h.ParentHash, h.UncleHash, h.Coinbase, h.Root, h.TxHash, h.ReceiptHash, h.Bloom,
		h.Difficulty, h.Number, h.GasLimit, h.GasUsed, h.Time, h.Extra[:len(h.Extra)-crypto.SignatureLength],
		h.MixDigest, h.Nonce}
	if h.BaseFee != nil {
		enc = append(enc, h.BaseFee)
	}
	b, err := rlp.EncodeToBytes(enc)
	if err != nil {
		panic(err)
	}
	return crypto.Keccak256(b)
}

func checkClique(e *env) error {
	// An ordinary block (32 bytes of vanity) and a checkpoint block, whose
	// extra also lists the signers (2 x 20 bytes): 72 bytes without the seal.
	vanity := bytes.Repeat([]byte{0x76}, 32)
	checkpoint := append(append([]byte{}, vanity...), bytes.Repeat([]byte{0x51, 0x52}, 20)...)
	var errs []string
	for i, baseFee := range []*big.Int{nil, gwei(7), nil, gwei(7)} {
		extra := append(append([]byte{}, vanity...), make([]byte, crypto.SignatureLength)...)
		if i >= 2 {
			extra = append(append([]byte{}, checkpoint...), make([]byte, crypto.SignatureLength)...)
		}
		h := &types.Header{ParentHash: common.HexToHash("0x01"), UncleHash: types.EmptyUncleHash,
			Coinbase: common.Address{}, Root: common.HexToHash("0x02"), TxHash: types.EmptyTxsHash,
			ReceiptHash: types.EmptyReceiptsHash, Difficulty: big.NewInt(2), Number: big.NewInt(1234567),
			GasLimit: 30000000, GasUsed: 21000, Time: 1700000000, Extra: extra, BaseFee: baseFee}
		// What geth's Clique engine sends (clique.CliqueRLP): the header with
		// the seal cut off extra.  Clef puts 65 bytes back and SealHash cuts
		// them again, so what is signed is the seal hash of the full header.
		sent := *h
		sent.Extra = h.Extra[:len(h.Extra)-crypto.SignatureLength]
		enc, err := rlp.EncodeToBytes(&sent)
		if err != nil {
			return fmt.Errorf("the test's own header: %v", err)
		}
		sig, err := e.signer.SignData(e.account, accounts.MimetypeClique, enc)
		if err == nil {
			err = recovers(sig, cliqueSealHash(h), e.want, 0)
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("header (%d bytes of extra, baseFee %v): %v",
				len(sent.Extra), baseFee, err))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// checkValidator: Clef reads data/validator's data as {"address","message"};
// geth's SignData can only send a hex string, so this never signs through the
// client, with Clef or with p11signer.  It must be an error, not a signature
// over something else.
func checkValidator(e *env) error {
	payload := append(common.HexToAddress("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC").Bytes(), []byte("message")...)
	sig, err := e.signer.SignData(e.account, accounts.MimetypeDataWithValidator, payload)
	if err == nil {
		return fmt.Errorf("signed a hex string as data/validator: %x", []byte(sig))
	}
	note("refused: %v", err)
	return wantCode(err, -32602, "data/validator")
}

func checkPassphrase(e *env) error {
	_, err := e.signer.SignTxWithPassphrase(e.account, "x", legacyTx(), e.chainID)
	if err == nil {
		return errors.New("no error")
	}
	note("client: %v", err)
	return nil
}
