-- The call log a page at a time (issue 17): newest first within a company, optionally by
-- caller, dialled number or result. Each index ends with (started_at, id), the log's order, so
-- a page is read straight off the index instead of sorting the company's every call.
CREATE INDEX call_records_company_log ON call_records (company_id, started_at, id);
CREATE INDEX call_records_company_caller_log ON call_records (company_id, caller, started_at, id);
CREATE INDEX call_records_company_dialled_log ON call_records (company_id, dialled, started_at, id);
CREATE INDEX call_records_company_result_log ON call_records (company_id, result, started_at, id);
